"""Adaptive evaluation: BPDA PGD, the black-box Square check, transfer, robustness curves, masking flags."""

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

import attacks
import blur
import classifiers
import defense
import evaluation
import results
from attacks.estimator import CompiledClassifier
from defense import TestTransform
from evaluation.grid import metric_name


def _accuracy(model, images, labels) -> float:
    return float((classifiers.predict_labels(model, images) == labels).mean())


def test_bpda_pgd_through_an_identity_defense_is_plain_pgd(synthetic_cnn):
    model, x, y = synthetic_cnn
    # keep_fraction=1 keeps every pixel: T is the identity, reached through the real BPDA machinery
    identity = TestTransform("gradient", explainer=model, sigma=2.0, keep_fraction=1.0)
    params = {"eps": 8 / 255, "max_iter": 10}
    plain = attacks.generate(model, x, y, "pgd", seed=3, **params)
    adaptive = evaluation.attack_inputs(model, identity, x, y, "pgd", "adaptive", seed=3, **params)
    np.testing.assert_allclose(adaptive, plain, atol=1e-6)
    assert np.abs(plain - x).max() == pytest.approx(8 / 255, abs=1e-6)


def test_adaptive_fgsm_behind_a_keep_mask_steps_along_the_bpda_gradient_written_out(synthetic_cnn):
    """One adaptive FGSM step through T(x) = m*x + (1-m)*B(x), the keep mask m held constant (BPDA), equals
    clip(x + eps * sign(m*g + B^T((1-m)*g))), g the cross-entropy gradient at T(x), the adjoint in NumPy."""
    model, x, y = synthetic_cnn
    x, y = x[:24], y[:24]
    sigma, keep, eps = 2.0, 0.15, 8 / 255
    transform = TestTransform("input_x_gradient", explainer=model, sigma=sigma, keep_fraction=keep)
    maps = transform.heatmaps(x)
    z = tf.constant(blur.heatmap_blur(x, maps, keep, sigma))
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(y, model(z, training=False)))
    g = tape.gradient(loss, z).numpy()
    mask = blur.keep_mask(maps, keep)[..., None]
    b = blur.gaussian_matrix(32, sigma)
    grad = mask * g + np.einsum("ih,nijc,jw->nhwc", b, (1 - mask) * g, b)
    expected = np.clip(x + eps * np.sign(grad), 0.0, 1.0)
    adversarial = attacks.generate(evaluation.defended_classifier(model, transform), x, y, "fgsm", eps=eps,
                                   label_source="true")
    clear = np.abs(grad) > 1e-6 * np.abs(grad).max()  # a sign float noise cannot flip
    assert clear.mean() > 0.9
    np.testing.assert_allclose(adversarial[clear], expected[clear], atol=1e-6)
    assert np.abs(adversarial - x).max() <= eps + 1e-6


def test_bpda_pgd_is_at_least_as_strong_as_adaptive_fgsm_behind_a_real_keep_mask_blur(synthetic_cnn):
    model, x, y = synthetic_cnn
    transform = TestTransform("input_x_gradient", explainer=model, sigma=2.0, keep_fraction=0.15)
    eps = 8 / 255
    fgsm = _accuracy(model, evaluation.attack_inputs(model, transform, x, y, "fgsm", "adaptive", eps=eps), y)
    pgd = _accuracy(model, evaluation.attack_inputs(model, transform, x, y, "pgd", "adaptive", eps=eps), y)
    clean = _accuracy(model, transform(x), y)
    assert pgd <= fgsm + 1 / len(y)
    assert pgd < clean


def test_pgd_record_has_random_start_twenty_steps_and_a_quarter_budget_step():
    record = attacks.get("pgd")
    assert record.defaults["max_iter"] >= 20 and record.defaults["num_random_init"] >= 1
    assert record.defaults["step_fraction"] == 0.25


def test_square_goes_through_art_on_the_defended_pipeline_and_never_asks_for_a_gradient(synthetic_cnn, monkeypatch):
    from art.attacks.evasion import SquareAttack

    model, x, y = synthetic_cnn
    calls = {"predict": 0, "square": 0}

    def refuse(*args, **kwargs):
        raise AssertionError("Square asked for a gradient")

    for name in ("loss_gradient", "class_gradient"):
        monkeypatch.setattr(CompiledClassifier, name, refuse)
    original_predict, original_generate = CompiledClassifier.predict, SquareAttack.generate

    def counted_predict(self, *args, **kwargs):
        calls["predict"] += 1
        return original_predict(self, *args, **kwargs)

    def counted_generate(self, *args, **kwargs):
        calls["square"] += 1
        assert "+" in self.estimator.classifier.name  # f o T, not f
        return original_generate(self, *args, **kwargs)

    monkeypatch.setattr(CompiledClassifier, "predict", counted_predict)
    monkeypatch.setattr(SquareAttack, "generate", counted_generate)
    transform = TestTransform("blur", sigma=2.0)
    attacked = evaluation.attack_cell(model, transform, x[:20], y[:20], "square", "adaptive", eps=16 / 255,
                                      max_iter=10)
    assert calls["square"] == 1 and calls["predict"] >= 10
    assert attacked.linf.max() <= 16 / 255 + 1e-6 and attacked.linf.max() > 0
    assert attacks.get("square").gradient_free and attacks.get("square").scope == "own"


def test_transfer_crafts_on_the_source_model_and_only_runs_after(synthetic_cnn):
    model, x, y = synthetic_cnn
    transform = TestTransform("blur", sigma=2.0)
    crafted = attacks.generate(model, x, y, "pgd", eps=8 / 255, max_iter=5)
    other = classifiers.build("small_cnn", 3, width=4)  # a different (untrained) evaluated model
    transferred = evaluation.attack_cell(other, transform, x, y, "pgd_transfer", "after", source_model=model,
                                         eps=8 / 255, max_iter=5)
    np.testing.assert_allclose(transferred.images, transform(crafted), atol=1e-6)
    np.testing.assert_allclose(transferred.linf, np.abs(crafted - x).reshape(len(x), -1).max(1), atol=1e-6)
    with pytest.raises(ValueError, match="Received: order='adaptive'"):
        evaluation.attack_cell(other, transform, x, y, "pgd_transfer", "adaptive", source_model=model)
    with pytest.raises(ValueError, match="Received: source_model=None"):
        evaluation.attack_cell(other, transform, x, y, "pgd_transfer", "after")


def test_perturbation_sizes_are_what_the_attack_changed(synthetic_cnn):
    model, x, y = synthetic_cnn
    transform = TestTransform("blur", sigma=2.0)
    before = evaluation.attack_cell(model, transform, x, y, "fgsm", "before", eps=4 / 255)
    clean = transform(x)
    np.testing.assert_allclose(before.linf, np.abs(before.images - clean).reshape(len(x), -1).max(1), atol=1e-7)
    np.testing.assert_allclose(before.l2, np.linalg.norm((before.images - clean).reshape(len(x), -1), axis=1),
                               rtol=1e-5)
    assert before.linf.max() <= 4 / 255 + 1e-6
    newtonfool = evaluation.attack_cell(model, transform, x, y, "newtonfool", "after", max_iter=5)
    assert np.median(newtonfool.l2) > 0  # unbounded: its size is the thing to report


def test_square_answers_repeated_queries_from_memory_with_the_same_result(monkeypatch):
    # A model whose output for an image never depends on the rest of its batch: per-image sums of weighted pixels.
    weights = tf.constant(np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32))
    toy = attacks.Classifier(lambda x: tf.reduce_sum(x[:, None] * weights[None], axis=[2, 3, 4]), (8, 8, 3), 3, "toy")
    x = np.random.default_rng(1).random((24, 8, 8, 3), dtype=np.float32)
    y = np.asarray(toy.forward(x)).argmax(1)
    computed = {"images": 0}
    original = CompiledClassifier._batched

    def counted(self, fn, images, *rest, **kwargs):
        if fn is self._predict_fn:
            computed["images"] += len(images)
        return original(self, fn, images, *rest, **kwargs)

    monkeypatch.setattr(CompiledClassifier, "_batched", counted)
    runs = {}
    for engine in ("compiled", "fast"):
        computed["images"] = 0
        runs[engine] = (attacks.generate(toy, x, y, "square", engine=engine, seed=3, eps=0.05, max_iter=60),
                        computed["images"])
    assert np.array_equal(runs["fast"][0], runs["compiled"][0])  # the same adversarial images, to the bit
    assert not np.array_equal(runs["fast"][0], x)  # and the attack did something
    assert runs["fast"][1] < 0.5 * runs["compiled"][1]  # ART asks for each image ~3 times per iteration
    assert attacks.compiled_estimator(toy)._remembered is None  # memory is dropped after the attack


def test_grid_runs_square_on_original_and_own_test_set_only_and_transfer_after_only():
    cells = evaluation.cells(("fgsm", "pgd_transfer"), ("fgsm", "pgd", "square"), own_test_set="lrp_eps")
    square = {c.test_set for c in cells if c.attack == "square"}
    assert square == {"original", "lrp_eps"}
    assert {c.order for c in cells if c.attack == "pgd_transfer"} == {"after"}
    assert {c.order for c in cells if c.attack == "pgd"} == {"adaptive"}
    assert len([c for c in cells if c.attack == "fgsm"]) == 3 * len(defense.test_sets())


def _linear_model(seed=0, shape=(8, 8, 3), classes=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    return keras.Model(inputs, keras.layers.Dense(classes)(keras.layers.Flatten()(inputs)))


def test_fgsm_curve_of_a_linear_model_is_the_closed_form_and_starts_at_clean_accuracy():
    model = _linear_model()
    weights, bias = model.layers[-1].get_weights()
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (60, 8, 8, 3)).astype(np.float32)
    y = (x.reshape(60, -1) @ weights + bias).argmax(1)
    y[::4] = (y[::4] + 1) % 3  # some wrong labels: clean accuracy below 100%
    budgets = (0, 1, 4, 16)
    rows = pd.DataFrame(evaluation.robustness_curve(model, TestTransform("original"), x, y, budgets,
                                                    lines=(("fgsm", "before"),)))

    def closed_form(eps):
        logits = x.reshape(60, -1) @ weights + bias
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        grad = (p - np.eye(3)[y]) @ weights.T
        moved = np.clip(x.reshape(60, -1) + eps * np.sign(grad), 0, 1)
        return float(((moved @ weights + bias).argmax(1) == y).mean())

    for row in rows.itertuples():
        assert row.accuracy == pytest.approx(closed_form(row.eps), abs=1e-9), row
    clean = float(((x.reshape(60, -1) @ weights + bias).argmax(1) == y).mean())
    assert rows[rows["eps_255"] == 0]["accuracy"].iloc[0] == clean
    assert rows["accuracy"].is_monotonic_decreasing


def test_curve_budgets_are_parsed_and_named():
    assert evaluation.parse_curve_eps("16, 0,0.3,1") == (0.0, 0.3, 1.0, 16.0)
    assert evaluation.parse_curve_eps("none") == ()
    with pytest.raises(ValueError, match="Received: curve_eps='1,x'"):
        evaluation.parse_curve_eps("1,x")


class RoundingDefense(TestTransform):
    """A deliberately masked defense: rounds the image to 1/8 steps, so every input gradient is zero."""

    def __call__(self, images, batch_size=128, progress=None, precomputed_heatmaps=None):
        return np.round(np.asarray(images, np.float32) * 8) / 8

    def tf_forward(self):
        return lambda images: tf.stop_gradient(tf.round(images * 8) / 8) + 0.0 * images


def _masking_cells(model, transform, x, y, variant):
    """The adaptive cells and the PGD curve the masking checks read, measured on a toy model."""
    rows = []
    for attack, params in (("fgsm", {"eps": 16 / 255}), ("pgd", {"eps": 16 / 255, "max_iter": 10}),
                           ("square", {"eps": 16 / 255, "max_iter": 100})):
        result = evaluation.accuracy(classifiers.predict_labels(
            model, evaluation.attack_inputs(model, transform, x, y, attack, "adaptive", **params)), y)
        rows.append({"variant": variant, "seed": 0, "test_set": "blur", "attack": attack, "order": "adaptive",
                     "accuracy": result.value, "correct": result.correct, "n": result.n,
                     "ci95_low": result.low, "ci95_high": result.high})
    curve = pd.DataFrame(evaluation.robustness_curve(model, transform, x, y, (0, 16), lines=(("pgd", "adaptive"),),
                                                     attack_params={"pgd": {"max_iter": 10}}))
    return pd.DataFrame(rows), curve.assign(variant=variant, seed=0, test_set="blur")


def test_masking_is_flagged_on_a_rounding_defense_and_not_on_an_undefended_model():
    model = _linear_model(shape=(32, 32, 3))
    weights, bias = model.layers[-1].get_weights()
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 1, (60, 32, 32, 3)).astype(np.float32)
    y = (np.round(x * 8).reshape(60, -1) / 8 @ weights + bias).argmax(1)  # the rounded model is right on all

    undefended_cells, undefended_curve = _masking_cells(model, TestTransform("original"), x, y, "none")
    masked_cells, masked_curve = _masking_cells(model, RoundingDefense("blur"), x, y, "gradient")
    assert results.masking_flags(undefended_cells, undefended_curve).empty
    flags = results.masking_flags(masked_cells, masked_curve)
    assert set(flags["check"]) == {"black-box beats white-box", "curve does not fall"}
    assert set(flags["variant"]) == {"gradient"}


def test_strength_flag_on_known_cells():
    cells = pd.DataFrame([
        {"variant": "none", "seed": 0, "test_set": "blur", "attack": a, "order": "adaptive", "accuracy": acc,
         "correct": round(acc * 100), "n": 100, "ci95_low": acc - 0.05, "ci95_high": acc + 0.05}
        for a, acc in (("fgsm", 0.40), ("pgd", 0.42))])
    assert list(results.masking_flags(cells)["check"]) == ["iterative weaker than one step"]
    assert "above clean" not in results.masking_flags(cells)["detail"].iloc[0]  # no clean cell to compare
    clean = {"variant": "none", "seed": 0, "test_set": "blur", "attack": "none", "order": "none", "n": 100}
    below = pd.concat([cells, pd.DataFrame([{**clean, "accuracy": 0.45, "correct": 45}])])
    assert "above clean" not in results.masking_flags(below)["detail"].iloc[0]  # the attack cost accuracy
    above = pd.concat([cells, pd.DataFrame([{**clean, "accuracy": 0.39, "correct": 39}])])
    assert "above clean accuracy 39.0%" in results.masking_flags(above)["detail"].iloc[0]  # it raised it: EOT
    cells.loc[cells["attack"] == "pgd", "accuracy"] = 0.41  # within one image of FGSM: not flagged
    assert results.masking_flags(cells).empty


def _strength_case(by_seed: dict, variant: str = "gradient"):
    """Cells and outcomes of one model's clean, FGSM and PGD adaptive cells on its own test set, per seed:
    ``by_seed[seed]`` maps "none" / "fgsm" / "pgd" -> per-image "correct" on all test images."""
    rows, outcomes = [], {}
    for seed, rights in by_seed.items():
        outcome = outcomes.setdefault((variant, seed), {})
        for attack, right in rights.items():
            outcome[metric_name(variant, attack, "none" if attack == "none" else "adaptive")] = right
            result = evaluation.accuracy(np.asarray(right, dtype=int), np.ones(len(right), dtype=int))
            rows.append({"variant": variant, "seed": seed, "test_set": variant, "attack": attack,
                         "order": "none" if attack == "none" else "adaptive", "accuracy": result.value,
                         "correct": result.correct, "n": result.n, "ci95_low": result.low, "ci95_high": result.high,
                         "eps": None if attack == "none" else 0.3 / 255})
    return pd.DataFrame(rows), outcomes


def _swapped(right: np.ndarray, broken: int, mended: int) -> np.ndarray:
    """``right`` with its first ``broken`` right images made wrong and its first ``mended`` wrong ones right."""
    out = right.copy()
    out[np.flatnonzero(right)[:broken]] = False
    out[np.flatnonzero(~right)[:mended]] = True
    return out


def test_strength_check_is_paired_on_the_same_images():
    clean = np.arange(300) < 240
    fgsm = np.arange(300) < 200
    # PGD leaves 4 images more than FGSM (the unpaired rule flags it), but it also breaks 16 that FGSM left:
    # 20 against 16 discordant images is no evidence that it is the weaker attack
    noisy = _swapped(fgsm, 16, 20)
    cells, outcomes = _strength_case({0: {"none": clean, "fgsm": fgsm, "pgd": noisy}})
    unpaired = results.masking_flags(cells)
    assert list(unpaired["check"]) == ["iterative weaker than one step"]
    assert "(no per-image outcomes pair them)" in unpaired["detail"].iloc[0]
    assert results.masking_flags(cells, outcomes=outcomes).empty

    # 10 images FGSM broke and PGD did not, none the other way: exact p = 2 / 2**10
    weaker = _swapped(fgsm, 0, 10)
    cells, outcomes = _strength_case({0: {"none": clean, "fgsm": fgsm, "pgd": weaker}})
    flags = results.masking_flags(cells, outcomes=outcomes)
    assert list(flags["check"]) == ["iterative weaker than one step"]
    assert flags["detail"].iloc[0] == ("PGD adaptive 70.0% > FGSM adaptive 66.7% on the same 300 images (1 seed): "
                                       "10 broken by FGSM only, 0 by PGD only; exact McNemar p = 0.002 (Holm over "
                                       "1 PGD cell)")
    # above the clean accuracy of the same images by 5 images: the gradient does not describe the model
    cells, outcomes = _strength_case({0: {"none": np.arange(300) < 205, "fgsm": fgsm, "pgd": weaker}})
    detail = results.masking_flags(cells, outcomes=outcomes)["detail"].iloc[0]
    assert detail.endswith("1 PGD cell); above clean accuracy 68.3% on the same images (5 right only under PGD, 0 "
                           "only clean): the gradient does not describe the defended model (a defense that changes "
                           "with its input, such as a mask drawn from a hash of the image, needs an attack over "
                           "that randomness, EOT, not BPDA)")
    # by one image only: no such note (as the unpaired rule, more than one image)
    cells, outcomes = _strength_case({0: {"none": np.arange(300) < 209, "fgsm": fgsm, "pgd": weaker}})
    assert "above clean" not in results.masking_flags(cells, outcomes=outcomes)["detail"].iloc[0]
    # clean outcomes missing: the clean cell's mean, by more than one image
    cells, outcomes = _strength_case({0: {"none": np.arange(300) < 205, "fgsm": fgsm, "pgd": weaker}})
    del outcomes[("gradient", 0)][metric_name("gradient", "none")]
    detail = results.masking_flags(cells, outcomes=outcomes)["detail"].iloc[0]
    assert "exact McNemar" in detail and detail.endswith("1 PGD cell); above clean accuracy 68.3%: the gradient "
                                                         "does not describe the defended model (a defense that "
                                                         "changes with its input, such as a mask drawn from a hash "
                                                         "of the image, needs an attack over that randomness, EOT, "
                                                         "not BPDA)")


def test_strength_check_counts_each_image_once_over_the_seeds_and_corrects_with_holm():
    fgsm = np.arange(300) < 150
    # the same 5 images discordant in both seeds are 5 images measured twice: p = 2 / 2**5 = 0.0625, no flag
    same = {seed: {"fgsm": fgsm, "pgd": _swapped(fgsm, 0, 5)} for seed in (0, 1)}
    assert results.masking_flags(*_strength_case(same)[:1], outcomes=_strength_case(same)[1]).empty
    # per seed 5 of 5 discordant images (p = 0.0625 each, no flag alone), other images in each seed: 10 images,
    # p = 2 / 2**10 = 0.002
    by_seed = {0: {"fgsm": fgsm, "pgd": _swapped(fgsm, 0, 5)}, 1: {"fgsm": ~fgsm, "pgd": _swapped(~fgsm, 0, 5)}}
    cells, outcomes = _strength_case(by_seed)
    assert results.masking_flags(cells.query("seed == 0"), outcomes=outcomes).empty
    flags = results.masking_flags(cells, outcomes=outcomes)
    assert ("on the same 300 images (2 seeds): 10 broken by FGSM only, 0 by PGD only (image-seed pairs); exact "
            "sign-flip test over the images p = 0.002 (Holm over 1 PGD cell)") in flags["detail"].iloc[0]
    # with a second cell of p = 0.0625 beside it Holm doubles 0.002: still flagged; the second is not
    other = _strength_case({0: {"fgsm": fgsm, "pgd": _swapped(fgsm, 0, 5)}}, variant="pgd")
    flags = results.masking_flags(pd.concat([cells, other[0]]), outcomes={**outcomes, **other[1]})
    assert list(flags["variant"]) == ["gradient"] and "p = 0.0039 (Holm over 2 PGD cells)" in flags["detail"].iloc[0]
    # a seed without outcomes: the cell is paired on all its seeds or not at all, so the unpaired rule decides
    # (51.7% > 50.0% + 1/300) and says so; pairing seed 0 alone (p = 0.0625) would have flagged nothing
    del outcomes[("gradient", 1)]
    detail = results.masking_flags(cells, outcomes=outcomes)["detail"].iloc[0]
    assert detail == "PGD adaptive 51.7% > FGSM adaptive 50.0% + 1/300 (no per-image outcomes pair them)"


def test_masking_checks_compare_attacks_only_at_the_same_budget():
    def cell(attack, accuracy, eps):
        return {"variant": "gradient", "seed": 0, "test_set": "gradient", "attack": attack, "order": "adaptive",
                "accuracy": accuracy, "correct": round(accuracy * 300), "n": 300, "ci95_low": accuracy - 0.05,
                "ci95_high": accuracy + 0.05, "eps": eps}

    same = pd.DataFrame([cell("fgsm", 0.40, 0.3 / 255), cell("pgd", 0.60, 0.3 / 255), cell("square", 0.20, 0.3 / 255)])
    assert set(results.masking_flags(same)["check"]) == {"iterative weaker than one step", "black-box beats white-box"}
    # FGSM at 8/255, PGD and Square at 0.3/255 (-P fgsm_eps=0.031373 on the thesis profile): PGD weaker than FGSM
    # is no flag, and Square is set against PGD alone
    mixed = same.assign(eps=[8 / 255, 0.3 / 255, 0.3 / 255])
    flags = results.masking_flags(mixed)
    assert list(flags["check"]) == ["black-box beats white-box"] and "PGD adaptive 60.0%" in flags["detail"].iloc[0]
    # Square alone at its own budget: nothing to set it against (FGSM and PGD, both at 8/255, still compared)
    assert list(results.masking_flags(same.assign(eps=[8 / 255, 8 / 255, 0.3 / 255]))["check"]) == [
        "iterative weaker than one step"]


def _paired_case(whites_by_seed: dict, square_by_seed: dict, square_images: np.ndarray, variant: str = "gradient"):
    """Cells and outcomes of one model's white-box adaptive attacks (all test images) and Square (``square_images``
    only), per seed: ``whites_by_seed[seed]`` maps attack -> per-image "correct", ``square_by_seed[seed]`` is
    Square's on its images."""
    rows, outcomes = [], {}
    for seed, whites in whites_by_seed.items():
        square = square_by_seed[seed]
        outcome = outcomes.setdefault((variant, seed), {})
        outcome.update({f"accuracy/{variant}/{attack}/adaptive": right for attack, right in whites.items()})
        outcome.update({f"accuracy/{variant}/square/adaptive": square,
                        f"indices:accuracy/{variant}/square/adaptive": square_images})
        for attack, right in (*whites.items(), ("square", square)):
            result = evaluation.accuracy(np.asarray(right, dtype=int), np.ones(len(right), dtype=int))
            rows.append({"variant": variant, "seed": seed, "test_set": variant, "attack": attack,
                         "order": "adaptive", "accuracy": result.value, "correct": result.correct, "n": result.n,
                         "ci95_low": result.low, "ci95_high": result.high,
                         "eps": None if attack == "newtonfool" else 0.3 / 255})
    return pd.DataFrame(rows), outcomes


def _broken_by_square(white: np.ndarray, images: np.ndarray, count: int) -> np.ndarray:
    """Square's outcomes on ``images``: right where the white-box attack left the image, except ``count`` of those."""
    square = white[images].copy()
    square[np.flatnonzero(square)[:count]] = False
    return square


def test_black_box_check_is_paired_on_the_images_square_ran_on():
    images = evaluation.subset_indices(300, 60)
    others = np.setdiff1d(np.arange(300), images)
    # Square's 60 images are hard ones: PGD leaves 12 of them (20%) but 60% of all 300; Square leaves the same 12.
    white = np.zeros(300, dtype=bool)
    white[images[:12]] = True
    white[others[:168]] = True
    cells, outcomes = _paired_case({0: {"pgd": white}}, {0: white[images].copy()}, images)
    unpaired = results.masking_flags(cells)  # 20.0% [11.8, 31.8] < 60.0% [54.4, 65.4]: different images
    assert list(unpaired["check"]) == ["black-box beats white-box"]
    assert "different images: no per-image outcomes pair them" in unpaired["detail"].iloc[0]
    assert results.masking_flags(cells, outcomes=outcomes).empty  # on the same images Square does no better

    # On its images PGD leaves 40 (66.7%), Square breaks 10 of them and no other: exact p = 2 / 2**10
    white[images[:40]] = True
    cells, outcomes = _paired_case({0: {"pgd": white}}, {0: _broken_by_square(white, images, 10)}, images)
    flags = results.masking_flags(cells, outcomes=outcomes)
    assert list(flags["check"]) == ["black-box beats white-box"]
    assert flags["detail"].iloc[0] == ("Square 50.0% < 66.7% left by PGD adaptive on the same 60 images (1 seed; an "
                                       "image counts as broken if any of them broke it): 10 broken by Square only, "
                                       "0 by them only; exact McNemar p = 0.002 (Holm over 1 gradient-free cell)")


def test_black_box_check_sets_only_bounded_attacks_against_each_other():
    # HopSkipJump has no L-inf budget (a minimal perturbation, as large as it needs): leaving 1% where PGD at
    # 0.3/255 leaves 40% says nothing about masking, so it is never the black-box side of the check
    rows = []
    for attack, correct, eps in (("pgd", 120, 0.3 / 255), ("hopskipjump", 3, None), ("square", 30, 0.3 / 255)):
        result = evaluation.accuracy(np.r_[np.ones(correct), np.zeros(300 - correct)].astype(int),
                                     np.ones(300, dtype=int))
        rows.append({"variant": "gradient", "seed": 0, "test_set": "gradient", "attack": attack,
                     "order": "adaptive", "accuracy": result.value, "correct": result.correct, "n": result.n,
                     "ci95_low": result.low, "ci95_high": result.high, "eps": eps})
    cells = pd.DataFrame(rows)
    assert results.masking_flags(cells.iloc[:2]).empty
    flags = results.masking_flags(cells)  # Square, bounded at the same budget, is still checked
    assert list(flags["check"]) == ["black-box beats white-box"] and flags["detail"].iloc[0].startswith("Square 10.0%")


def test_black_box_check_counts_an_image_broken_by_any_white_box_attack():
    images = evaluation.subset_indices(300, 60)
    pgd, fgsm = np.zeros(300, dtype=bool), np.zeros(300, dtype=bool)
    pgd[images[:40]] = True
    fgsm[images[5:45]] = True  # each leaves 40 of the 60, together only 35 (images 5-39)
    square = _broken_by_square(pgd & fgsm, images, 6)  # 29 left
    newtonfool = np.ones(300, dtype=bool)  # no budget: never the yardstick, though it "leaves" 100%
    cells, outcomes = _paired_case({0: {"pgd": pgd, "fgsm": fgsm, "newtonfool": newtonfool}}, {0: square}, images)
    detail = results.masking_flags(cells, outcomes=outcomes)["detail"].iloc[0]
    assert detail.startswith("Square 48.3% < 58.3% left by FGSM or PGD adaptive on the same 60 images")
    assert "6 broken by Square only, 0 by them only; exact McNemar p = 0.031" in detail
    # an attack measured on only some of Square's images drops out; the others still pair
    del outcomes[("gradient", 0)]["accuracy/gradient/fgsm/adaptive"]
    detail = results.masking_flags(cells, outcomes=outcomes)["detail"].iloc[0]
    assert detail.startswith("Square 48.3% < 66.7% left by PGD adaptive on the same 60 images")


def test_black_box_check_corrects_for_several_cells_with_holm():
    images = evaluation.subset_indices(300, 60)
    white = np.zeros(300, dtype=bool)
    white[images[:40]] = True
    one = _paired_case({0: {"pgd": white}}, {0: _broken_by_square(white, images, 6)}, images, "gradient")
    two = _paired_case({0: {"pgd": white}}, {0: _broken_by_square(white, images, 7)}, images, "pgd")
    cells, outcomes = pd.concat([one[0], two[0]]), {**one[1], **two[1]}
    # alone, 6 of 6 discordant images give p = 0.031; with a second cell (p = 0.016) Holm doubles it: 0.031
    flags = results.masking_flags(cells, outcomes=outcomes)
    assert list(flags["variant"]) == ["gradient", "pgd"]
    assert "p = 0.031 (Holm over 2 gradient-free cells)" in flags["detail"].iloc[0]
    assert "p = 0.031 (Holm over 2 gradient-free cells)" in flags["detail"].iloc[1]  # 2 x 0.016, not below 0.031
    five = _paired_case({0: {"pgd": white}}, {0: _broken_by_square(white, images, 5)}, images, "lrp_eps")
    flags = results.masking_flags(pd.concat([cells, five[0]]), outcomes={**outcomes, **five[1]})
    assert list(flags["variant"]) == ["pgd"]  # 3 x 0.016 = 0.047; 2 x 0.031 and 0.0625 are not below 0.05


def test_black_box_check_pairs_the_seeds_images_not_the_interval_of_training_noise():
    images = evaluation.subset_indices(300, 60)
    whites, square = {}, {}
    for seed, (kept, broken) in enumerate(((42, 6), (30, 5))):  # PGD leaves 70% / 50%, Square 6 / 5 fewer
        white = np.zeros(300, dtype=bool)
        white[:2 * kept] = True
        white[images[:kept]] = True
        whites[seed], square[seed] = {"pgd": white}, _broken_by_square(white, images, broken)
    cells, outcomes = _paired_case(whites, square, images)
    # Over two seeds the interval (t = 12.7 on the seeds' spread) spans both means: the unpaired rule sees nothing
    assert results.masking_flags(cells).empty
    # on the same 60 images: 5 broken by Square only in both seeds, 1 in seed 0 only, none the other way:
    # p = 2 / 2**6 = 0.031 (11 image-seed pairs pooled as if independent would give 2 / 2**11)
    flags = results.masking_flags(cells, outcomes=outcomes)
    assert list(flags["check"]) == ["black-box beats white-box"]
    assert "on the same 60 images (2 seeds; an image counts" in flags["detail"].iloc[0]
    assert ("11 broken by Square only, 0 by them only (image-seed pairs); exact sign-flip test over the images "
            "p = 0.031") in flags["detail"].iloc[0]
    del outcomes[("gradient", 1)]  # paired on all seeds or not at all: seed 0 alone (6 of 6, p = 0.031) is not
    assert results.masking_flags(cells, outcomes=outcomes).empty  # the interval rule decides, as without outcomes


def _eot_probe():
    import importlib.util

    from tests.conftest import REPO
    spec = importlib.util.spec_from_file_location("eot_random", REPO / "bench" / "eot_random.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_eot_probe_bpda_is_the_grids_gradient_and_eot_the_mean_over_masks(synthetic_cnn):
    """bench/eot_random.py: one sample of the deployed mask is the grid's BPDA gradient through the random blur;
    several samples average the gradients of the masks one by one; its PGD stays in the eps ball and [0, 1]."""
    from heatmaps.random_scores import random_scores

    probe = _eot_probe()
    model, x, y = synthetic_cnn
    x, y = x[:6], y[:6]
    transform = TestTransform("random", explainer=model, sigma=2.0, keep_fraction=0.15, heatmap_params={"seed": 1})
    defended = evaluation.orders.defended_classifier(model, transform)
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, defended.forward(inputs)))
    grid = tape.gradient(loss, inputs).numpy()
    bpda = probe.loss_gradient(model, lambda images, step, sample: random_scores(images, 1), 1, 0.15, 2.0)
    np.testing.assert_allclose(bpda(inputs, y, 0).numpy(), grid, rtol=1e-4, atol=1e-7)

    fixed = [np.random.default_rng(k).random(x.shape).astype(np.float32) for k in range(3)]
    eot = probe.loss_gradient(model, lambda images, step, sample: tf.gather(tf.constant(np.stack(fixed)), sample),
                              3, 0.15, 2.0)
    one_by_one = [probe.loss_gradient(model, lambda images, step, sample, m=m: tf.constant(m), 1, 0.15, 2.0)(
        inputs, y, 0).numpy() for m in fixed]
    np.testing.assert_allclose(eot(inputs, y, 0).numpy(), np.mean(one_by_one, axis=0), rtol=1e-4, atol=1e-7)
    assert not np.allclose(one_by_one[0], one_by_one[1])  # the masks differ, so the mean is not any one of them

    eps = 4 / 255
    start = np.random.default_rng(0).uniform(-eps, eps, size=x.shape).astype(np.float32)
    adversarial = probe.pgd(model, x, y, eps, 5, 0.25, bpda, start)
    assert np.abs(adversarial - x).max() <= eps + 1e-6 and adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.abs(adversarial - np.clip(x + start, 0, 1)).max() > 0  # it moved from its start
