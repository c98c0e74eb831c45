"""Step keys hash only the code a step runs: derived from the imports, checked by editing a copy of the code."""

import shutil

import numpy as np
import pytest

from tests.conftest import fresh_store
from workflow import code_version as versions
from workflow import data as workflow_data
from workflow import step_runs, tracking
from workflow.steps import attack_step, train_step

STEPS = ("workflow.steps.heatmaps", "workflow.steps.train", "workflow.steps.attack", "workflow.steps.evaluate")


@pytest.fixture
def code_copy(tmp_path):
    """A copy of the project's sources that a test may edit."""
    root = tmp_path / "code"
    shutil.copytree(versions.REPO, root, ignore=shutil.ignore_patterns(
        ".git", ".venv", "mlruns", "reports", "__pycache__", "*.db", "docs", "notebooks", "tests"))
    return root


def _versions(root):
    versions.code_version.cache_clear()
    return {step: versions.code_version(step, root) for step in STEPS}


def _edit(root, relative):
    path = root / relative
    path.write_text(path.read_text() + "\n# an edit\n")


def test_closures_follow_the_imports():
    files = {step: {str(p.relative_to(versions.REPO)) for p in versions.closure(step)} for step in STEPS}
    assert "heatmaps/lrp_epsilon.py" in files["workflow.steps.heatmaps"]
    assert not any(f.startswith(("attacks/", "classifiers/", "blur/")) for f in files["workflow.steps.heatmaps"])
    assert {"classifiers/training.py", "blur/heatmap_blur.py", "defense/transforms.py"} <= files["workflow.steps.train"]
    assert not any(f.startswith(("attacks/", "evaluation/")) for f in files["workflow.steps.train"])
    assert {"attacks/fast_paths.py", "evaluation/orders.py", "checks/__init__.py"} <= files["workflow.steps.attack"]
    assert files["workflow.steps.attack"] < files["workflow.steps.evaluate"]
    for closure in files.values():  # orchestration feeds the key as params, never as code
        assert "workflow/tracking.py" not in closure and "workflow/profiles.py" not in closure


@pytest.mark.parametrize("edited, changed", [
    ("attacks/generate.py", {"workflow.steps.attack", "workflow.steps.evaluate"}),
    ("classifiers/training.py", {"workflow.steps.train", "workflow.steps.attack", "workflow.steps.evaluate"}),
    ("heatmaps/gradient.py", set(STEPS)),
    ("workflow/tracking.py", set()),
])
def test_an_edit_changes_the_code_version_of_exactly_the_steps_that_run_it(code_copy, edited, changed):
    before = _versions(code_copy)
    _edit(code_copy, edited)
    after = _versions(code_copy)
    assert {step for step in STEPS if before[step] != after[step]} == changed


def test_a_new_module_is_covered_once_it_is_imported(code_copy):
    before = _versions(code_copy)
    (code_copy / "attacks" / "extra.py").write_text("STEP = 2\n")
    assert _versions(code_copy) == before  # not imported: not run
    generate = code_copy / "attacks" / "generate.py"
    generate.write_text(generate.read_text().replace("import checks\n", "import checks\nfrom attacks import extra\n"))
    with_import = _versions(code_copy)
    (code_copy / "attacks" / "extra.py").write_text("STEP = 3\n")
    assert _versions(code_copy)["workflow.steps.attack"] != with_import["workflow.steps.attack"]


def test_editing_an_attack_reuses_training_and_editing_training_reruns_downstream(tmp_path, code_copy, data_root,
                                                                                   monkeypatch):
    """End to end through get_or_run, with the code versions taken from the edited copy."""
    from workflow import profiles

    monkeypatch.setattr(step_runs, "code_version", lambda module: versions.code_version(module, code_copy))
    tracking.configure(fresh_store(tmp_path))
    settings = profiles.resolve("quick", {"images_per_class": 12, "train_per_class": 8, "epochs": 1})
    data = str(data_root)

    def pipeline():
        versions.code_version.cache_clear()
        step_runs._steps.clear()  # a new entry run
        gradient = train_step(settings, "gradient", data)
        rows = {r["name"]: r["run_id"] for r in step_runs._steps.values()}
        rows["attack"] = attack_step(settings, gradient, rows["train-none"], "fgsm", "after", "gradient", data)
        return rows, {r["name"] for r in step_runs._steps.values() if not r["reused"]}

    first, everything = pipeline()
    assert everything == {"train-none", "heatmaps-gradient", "train-gradient", "attack-fgsm-before-original",
                          "attack-fgsm-after-gradient"}
    _edit(code_copy, "attacks/fast_paths.py")
    second, ran = pipeline()
    assert ran == {"attack-fgsm-before-original", "attack-fgsm-after-gradient"}
    assert all(second[name] == first[name] for name in ("train-none", "heatmaps-gradient", "train-gradient"))
    _edit(code_copy, "classifiers/training.py")
    third, ran = pipeline()
    assert ran == everything  # training, the heatmaps of the new explainer, and every attack
    loaded = workflow_data.load(settings, data)
    assert not loaded.split.x_train.flags.writeable and np.isfinite(loaded.split.x_train).all()
