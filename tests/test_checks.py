"""Value checks: one module, each value checked once where it enters; caches bounded, arrays read-only."""

import numpy as np
import pytest

import blur
import checks
from tests.conftest import fresh_store


@pytest.mark.parametrize("check, value, message", [
    (checks.positive_int, "0", "epochs must be a positive integer. Received: epochs='0'"),
    (checks.positive_int, 2.5, "Received: epochs=2.5"),
    (checks.positive_int, True, "Received: epochs=True"),
    (checks.non_negative_int, -1, "epochs must be an integer >= 0. Received: epochs=-1"),
    (checks.positive_number, "nan", "epochs must be a positive, finite number. Received: epochs='nan'"),
    (checks.positive_number, 0, "Received: epochs=0"),
])
def test_bad_values_are_named(check, value, message):
    with pytest.raises(ValueError) as error:
        check("epochs", value)
    assert message in str(error.value)


def test_good_values_are_converted():
    assert checks.positive_int("n", "20") == 20 and checks.positive_int("n", 20.0) == 20
    assert checks.non_negative_int("seed", "0") == 0
    assert checks.positive_number("eps", "1e-3") == 0.001
    assert checks.one_of("order", "after", ("before", "after")) == "after"
    with pytest.raises(ValueError, match=r"Unknown attack order\. Expected one of \['before'\]\. Received: order='x'"):
        checks.one_of("order", "x", ("before",), what="attack order")


def test_heatmap_blur_checks_sigma_and_keep_fraction_once(monkeypatch):
    import sys

    module = sys.modules["blur.heatmap_blur"]  # (the package exports a function of the same name)

    calls = {"sigma": 0, "keep_fraction": 0}
    real_sigma, real_keep = module.check_sigma, module.check_keep_fraction

    def count(name, real):
        def counted(value):
            calls[name] += 1
            return real(value)
        return counted

    monkeypatch.setattr(module, "check_sigma", count("sigma", real_sigma))
    monkeypatch.setattr(module, "check_keep_fraction", count("keep_fraction", real_keep))
    images = np.random.default_rng(0).random((2, 8, 8, 3), dtype=np.float32)
    blur.heatmap_blur(images, images, 0.25, 2.0)
    assert calls == {"sigma": 1, "keep_fraction": 1}


def test_loaded_artifacts_are_read_only_fresh_dicts_and_the_caches_are_bounded(tmp_path, monkeypatch):
    import mlflow

    from workflow import models, tracking

    tracking.configure(fresh_store(tmp_path))
    with tracking.run("arrays"):
        tracking.log_arrays("a.npz", images=np.arange(6.0))
        run_id = mlflow.active_run().info.run_id

    def no_download(*args, **kwargs):
        raise AssertionError("arrays this process logged were downloaded again")

    with monkeypatch.context() as patched:  # what was just logged is answered from memory
        patched.setattr(mlflow.artifacts, "download_artifacts", no_download)
        first = tracking.load_arrays(run_id, "a.npz")
    first["extra"] = np.zeros(1)  # a caller's changes stay its own
    second = tracking.load_arrays(run_id, "a.npz")
    assert "extra" not in second and second["images"] is first["images"]  # the same cached, read-only array
    with pytest.raises(ValueError, match="read-only"):
        second["images"][0] = 1.0
    tracking._loaded.clear()  # read back from the store: what was kept at logging is what is stored
    stored = tracking.load_arrays(run_id, "a.npz")
    assert stored["images"] is not first["images"] and np.array_equal(stored["images"], first["images"])
    assert stored["images"].dtype == first["images"].dtype
    with tracking.run("many"):
        for i in range(tracking.LOADED_ARTIFACTS + 5):
            tracking.log_arrays(f"{i}.npz", images=np.full(2, i))
    assert len(tracking._loaded) == tracking.LOADED_ARTIFACTS  # bounded, the oldest dropped
    assert models.load.cache_info().maxsize == models.LOADED_MODELS
