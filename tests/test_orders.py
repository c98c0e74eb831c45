"""The three attack orders and the statistics reported with them."""

import numpy as np
import pytest

import attacks
import blur
import classifiers
import evaluation
from defense import TestTransform


@pytest.fixture(scope="module")
def trained(synthetic_cnn):
    return synthetic_cnn


def test_before_is_attack_on_transformed_images(trained):
    model, x, y = trained
    transform = TestTransform("blur", sigma=2.0)
    expected = attacks.generate(model, blur.gaussian(x, 2.0), y, "fgsm")
    np.testing.assert_array_equal(evaluation.attack_inputs(model, transform, x, y, "fgsm", "before"), expected)


def test_after_is_transform_of_attacked_images_with_heatmaps_of_the_attacked_images(trained):
    model, x, y = trained
    transform = TestTransform("gradient", explainer=model, sigma=2.0, keep_fraction=0.2)
    attacked = attacks.generate(model, x, y, "fgsm")
    expected = blur.heatmap_blur(attacked, __import__("heatmaps").compute(model, attacked, "gradient"), 0.2, 2.0)
    np.testing.assert_allclose(evaluation.attack_inputs(model, transform, x, y, "fgsm", "after"), expected)
    np.testing.assert_allclose(
        evaluation.attack_inputs(model, transform, x, y, "fgsm", "after", attacked_original=attacked), expected
    )


def test_defended_classifier_forward_is_model_of_transform(trained):
    model, x, _ = trained
    transform = TestTransform("lrp_eps", explainer=model, sigma=2.0)
    defended = evaluation.defended_classifier(model, transform)
    np.testing.assert_allclose(defended(x).numpy(), model(transform(x)).numpy(), atol=1e-4)


@pytest.mark.parametrize("test_set", ["blur", "input_x_gradient"])
def test_adaptive_attack_is_at_least_as_strong_as_attacking_before_the_blur_is_known(trained, test_set):
    model, x, y = trained
    transform = TestTransform(test_set, explainer=model, sigma=2.0, keep_fraction=0.15)
    params = {"eps": 16 / 255, "step_fraction": 0.25, "max_iter": 5}
    accuracy = {
        order: (classifiers.predict_labels(model, evaluation.attack_inputs(
            model, transform, x, y, "pgd", order, **params)) == y).mean()
        for order in ("after", "adaptive")
    }
    clean = (classifiers.predict_labels(model, transform(x)) == y).mean()
    assert accuracy["adaptive"] <= accuracy["after"] <= clean
    assert accuracy["adaptive"] < clean
    sizes = evaluation.attack_cell(model, transform, x, y, "pgd", "adaptive", **params).linf
    assert 0 < sizes.max() <= params["eps"] + 1e-6  # an attack inside its budget, not some other image


def test_unknown_order_and_test_set_are_named(trained):
    model, x, y = trained
    with pytest.raises(ValueError, match="Received: order='during'"):
        evaluation.attack_inputs(model, TestTransform("blur"), x, y, "fgsm", "during")
    with pytest.raises(ValueError, match="Received: test_set='sharpen'"):
        TestTransform("sharpen")
    without_explainer = TestTransform("lrp_eps")  # enough when the heatmaps are given
    maps = np.random.default_rng(0).random(x.shape, dtype=np.float32)
    np.testing.assert_array_equal(without_explainer(x, precomputed_heatmaps=maps), blur.heatmap_blur(x, maps))
    with pytest.raises(ValueError, match="needs an explainer model .* Received: explainer=None"):
        without_explainer(x)


def reference_wilson(correct, n, z=1.959963984540054):
    """Invert the score test on a fine grid: all p with |p_hat - p| <= z sqrt(p(1-p)/n)."""
    grid = np.linspace(0, 1, 2_000_001)
    inside = np.abs(correct / n - grid) <= z * np.sqrt(grid * (1 - grid) / n)
    return grid[inside].min(), grid[inside].max()


@pytest.mark.parametrize("correct, n", [(0, 10), (50, 100), (97, 100), (300, 300), (1, 3)])
def test_wilson_interval_is_the_inverted_score_test(correct, n):
    low, high = evaluation.wilson_interval(correct, n)
    ref_low, ref_high = reference_wilson(correct, n)
    assert low == pytest.approx(ref_low, abs=2e-6) and high == pytest.approx(ref_high, abs=2e-6)


def test_accuracy_counts_and_mean_std():
    result = evaluation.accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]))
    assert (result.correct, result.n, result.value) == (3, 4, 0.75)
    assert result.low < 0.75 < result.high
    assert evaluation.mean_std([0.5, 0.7]) == pytest.approx((0.6, np.std([0.5, 0.7], ddof=1)))
    assert evaluation.mean_std([0.4]) == (0.4, 0.0)
    with pytest.raises(ValueError, match="correct=5, n=4"):
        evaluation.wilson_interval(5, 4)
