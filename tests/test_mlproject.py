"""The MLproject file, conda.yaml and pyproject agree with each other and with the code."""

import re

import tomllib
import yaml

from tests.conftest import REPO
from workflow.profiles import PROFILES


def _mlproject():
    return yaml.safe_load((REPO / "MLproject").read_text())


def test_every_entry_point_runs_an_existing_script_with_declared_parameters():
    project = _mlproject()
    assert {"main", "reproduce", "heatmaps", "train", "attack", "evaluate", "report", "sweep"} <= set(
        project["entry_points"])
    for name, entry in project["entry_points"].items():
        script = entry["command"].split()[1]
        assert (REPO / script).is_file(), f"{name}: {script} missing"
        used = set(re.findall(r"\{(\w+)\}", entry["command"]))
        assert used == set(entry["parameters"]), f"{name}: command and parameters differ"
        source = (REPO / script).read_text()
        for parameter in used:
            # --profile/--data come from workflow.cli.parser, profile settings from cli.add_settings
            assert f'"--{parameter}"' in source or parameter in ("profile", "data") or parameter in PROFILES[
                "thesis"], f"{name}: {script} has no --{parameter}"


def test_train_parameters_cover_the_issue_list():
    parameters = _mlproject()["entry_points"]["train"]["parameters"]
    for name in ("heatmap", "sigma", "keep_fraction", "model", "epochs", "batch_size", "learning_rate", "seed",
                 "data"):
        assert name in parameters


def test_conda_env_pins_equal_pyproject_pins():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = {re.split("==", d)[0].lower(): d for d in pyproject["project"]["dependencies"]}
    conda = yaml.safe_load((REPO / "conda.yaml").read_text())
    pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    conda_pins = {re.split("==", d)[0].lower(): d for d in pip}
    for name, pin in pins.items():
        assert conda_pins.get(name) == pin, f"{name}: pyproject {pin} vs conda {conda_pins.get(name)}"
    constraints = {line.split("==")[0].lower(): line.strip()
                   for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line}
    for name, pin in {**pins, **conda_pins}.items():
        bare = re.sub(r"\[.*\]", "", pin)  # psycopg[binary]==3.3.9 -> psycopg==3.3.9
        name = bare.split("==")[0].lower()
        assert constraints.get(name) == bare, f"{name}: constraints.txt has {constraints.get(name)}, wanted {bare}"
