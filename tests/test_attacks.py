"""Attacks equal ART's, follow their closed forms, and reject bad input by name."""

import keras
import numpy as np
import pytest

import attacks
import classifiers
from classifiers import small_cnn


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(7)
    model = small_cnn(3, width=8)
    # Spread predictions over the classes so that per-label code paths are exercised.
    rng = np.random.default_rng(0)
    x = rng.random((64, 32, 32, 3)).astype(np.float32)
    kernel, bias = model.layers[-1].get_weights()
    logits = model.predict(x, verbose=0)
    model.layers[-1].set_weights([kernel, bias - np.quantile(logits - logits.mean(1, keepdims=True), 2 / 3, axis=0)])
    return model


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    return rng.random((24, 32, 32, 3)).astype(np.float32), rng.integers(0, 3, 24)


def test_fgsm_equals_art_fast_gradient_method(cnn, data):
    x, y = data
    reference = attacks.generate(cnn, x, y, "fgsm", engine="art", batch_size=10)
    for engine in ("fast", "compiled"):
        ours = attacks.generate(cnn, x, y, "fgsm", engine=engine, batch_size=10)
        assert np.abs(ours - reference).max() <= 1e-5
    assert np.abs(reference - x).max() == pytest.approx(8 / 255, abs=1e-6)


def test_fgsm_on_a_linear_model_is_the_closed_form():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    weights, bias = model.layers[-1].get_weights()
    rng = np.random.default_rng(2)
    x = rng.uniform(0.1, 0.9, (6, 4, 4, 1)).astype(np.float32)
    y = rng.integers(0, 3, 6)
    logits = x.reshape(6, -1) @ weights + bias
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    softmax /= softmax.sum(1, keepdims=True)
    grad = (softmax - np.eye(3)[y]) @ weights.T  # d CE / dx for a linear model
    expected = np.clip(x.reshape(6, -1) + 0.05 * np.sign(grad), 0, 1).reshape(x.shape)
    np.testing.assert_allclose(attacks.generate(model, x, y, "fgsm", eps=0.05), expected, atol=1e-6)


def test_newtonfool_equals_art_newtonfool_at_100_iterations(cnn, data):
    x = data[0][:12]  # two batches, the second partial: ART's eager reference is the slow part
    reference = attacks.generate(cnn, x, None, "newtonfool", engine="art", batch_size=8)
    for engine in ("fast", "compiled"):
        assert np.abs(attacks.generate(cnn, x, None, "newtonfool", engine=engine, batch_size=8) - reference).max() <= 1e-4


def test_newtonfool_lowers_the_predicted_class_probability(cnn, data):
    x, _ = data
    adversarial = attacks.generate(cnn, x, None, "newtonfool", max_iter=20)
    before = keras.activations.softmax(cnn(x)).numpy()
    after = keras.activations.softmax(cnn(adversarial)).numpy()
    predicted = before.argmax(1)
    rows = np.arange(len(x))
    assert np.all(after[rows, predicted] < before[rows, predicted])


@pytest.mark.parametrize("name, params", [
    ("pgd", {"max_iter": 3}),
    ("square", {"max_iter": 5}),
    ("hopskipjump", {"max_iter": 1, "max_eval": 50, "init_eval": 10}),
])
def test_every_registered_attack_runs_and_stays_in_range(cnn, data, name, params):
    x, y = data
    adversarial = attacks.generate(cnn, x[:6], y[:6], name, batch_size=6, **params)
    assert adversarial.shape == (6, 32, 32, 3) and adversarial.dtype == np.float32
    assert adversarial.min() >= 0.0 and adversarial.max() <= 1.0
    assert np.abs(adversarial - x[:6]).max() > 0
    eps = attacks.get(name).defaults.get("eps") if attacks.get(name).defaults.get("norm") == "inf" else None
    if eps is not None:  # an L-inf attack stays inside its budget (float32 rounding aside)
        assert np.abs(adversarial - x[:6]).max() <= eps + 1e-6
    # it attacks: a loss-driven attack raises the loss of the labels it leaves; HopSkipJump, which sees only
    # decisions, starts from and keeps an image of another class
    def loss(images):
        return float(keras.losses.sparse_categorical_crossentropy(y[:6], cnn(images), from_logits=True).numpy().mean())

    if name == "hopskipjump":
        assert (classifiers.predict_labels(cnn, adversarial) != classifiers.predict_labels(cnn, x[:6])).mean() >= 0.5
    else:
        assert loss(adversarial) > loss(x[:6])


def test_outputs_are_clipped_float32_of_the_same_shape(cnn):
    bright = np.full((5, 32, 32, 3), 0.995, dtype=np.float32)
    out = attacks.generate(cnn, bright, np.zeros(5, int), "fgsm", eps=0.1)
    assert out.shape == bright.shape and out.dtype == np.float32 and out.max() <= 1.0 and out.min() >= 0.0
    assert attacks.generate(cnn, bright[:0], np.zeros(0, int), "fgsm").shape == (0, 32, 32, 3)


def test_compiled_estimator_matches_art_estimator_interface(cnn, data):
    x, y = data
    classifier = attacks.as_classifier(cnn)
    ours = attacks.compiled_estimator(classifier, "probabilities", batch_size=7)
    stock = attacks.art_estimator(classifier, "probabilities")
    np.testing.assert_allclose(ours.predict(x), stock.predict(x), atol=1e-6)
    np.testing.assert_allclose(ours.class_gradient(x, label=y), stock.class_gradient(x, label=y), atol=1e-6)
    np.testing.assert_allclose(ours.class_gradient(x[:4]), stock.class_gradient(x[:4]), atol=1e-6)
    np.testing.assert_allclose(ours.class_gradient(x, label=1), stock.class_gradient(x, label=1), atol=1e-6)
    np.testing.assert_allclose(ours.loss_gradient(x, np.eye(3)[y]), stock.loss_gradient(x, np.eye(3)[y]), atol=1e-7)


@pytest.mark.parametrize("name, params, message", [
    ("deepfool", {}, "Received: attack='deepfool'"),
    ("fgsm", {"eps": -0.1}, "Received: eps=-0.1"),
    ("fgsm", {"eps": float("nan")}, "Received: eps=nan"),
    ("fgsm", {"norm": "3"}, "Received: norm='3'"),
    ("newtonfool", {"max_iter": 0}, "Received: max_iter=0"),
    ("newtonfool", {"max_iter": 2.5}, "Received: max_iter=2.5"),
    ("newtonfool", {"steps": 3}, r"\['steps'\]"),
])
def test_bad_attack_names_and_parameters_are_named(cnn, data, name, params, message):
    x, y = data
    with pytest.raises(ValueError, match=message):
        attacks.generate(cnn, x, y, name, **params)


def test_bad_shapes_engines_and_labels_are_named(cnn, data):
    x, y = data
    with pytest.raises(ValueError, match=r"images.shape=\(24, 16, 16, 3\)"):
        attacks.generate(cnn, x[:, :16, :16], y, "fgsm")
    with pytest.raises(ValueError, match="Received: engine='cuda'"):
        attacks.generate(cnn, x, y, "fgsm", engine="cuda")
    with pytest.raises(ValueError, match="3 labels for 24 images"):
        attacks.generate(cnn, x, y[:3], "fgsm")


def test_fgsm_on_predicted_labels_equals_art_without_y(cnn, data):
    """fgsm_labels=predicted (the thesis profile) is ART's FastGradientMethod.generate(x) with y=None."""
    from art.attacks.evasion import FastGradientMethod

    x, y = data
    estimator = attacks.art_estimator(attacks.as_classifier(cnn), "logits")
    reference = FastGradientMethod(estimator, eps=0.3 / 255, eps_step=0.3 / 255, batch_size=10).generate(x)
    for engine in ("fast", "compiled"):
        ours = attacks.generate(cnn, x, y, "fgsm", engine=engine, batch_size=10, eps=0.3 / 255,
                                label_source="predicted")
        assert np.abs(ours - reference).max() <= 1e-6
    predicted = cnn.predict(x, verbose=0).argmax(1)
    assert (predicted != y).any()  # so true labels would have given another attack
    on_true = attacks.generate(cnn, x, y, "fgsm", batch_size=10, eps=0.3 / 255)
    assert np.abs(on_true - reference).max() > 0
    with pytest.raises(ValueError, match="Received: label_source='guessed'"):
        attacks.generate(cnn, x, y, "fgsm", label_source="guessed")
