"""The MLproject file, conda.yaml and pyproject agree with each other and with the code."""

import re

import pytest
import tomllib
import yaml

from tests.conftest import REPO
from workflow.profiles import PROFILES, setting_keys


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


@pytest.mark.parametrize("script", ["train", "reproduce", "make_heatmaps"])
def test_every_setting_reaches_the_scripts_as_an_extra_parameter(script, capsys):
    """`mlflow run -P sigma=2` passes an undeclared parameter on as `--sigma 2`: each script must take it."""
    module = __import__(script)
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    shown = capsys.readouterr().out
    for key in ("sigma", "keep_fraction", "model", "epochs", "batch_size", "learning_rate", "seed", *setting_keys()):
        assert f"--{key} " in shown, key
    assert "profile" in _mlproject()["entry_points"][script.replace("make_", "")]["parameters"]


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


def test_the_gpu_extra_is_tensorflow_with_cuda_and_every_cuda_library_is_pinned():
    import importlib.metadata

    from packaging.requirements import Requirement

    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert pyproject["project"]["optional-dependencies"]["gpu"] == ["tensorflow[and-cuda]==2.21.0"]
    constraints = {line.split("==")[0].lower(): line.split("==")[1].strip()
                   for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line}
    cuda = [Requirement(r) for r in importlib.metadata.requires("tensorflow") if 'extra == "and-cuda"' in r]
    assert len(cuda) >= 10
    for requirement in cuda:
        pinned = constraints.get(requirement.name.lower())
        assert pinned is not None and requirement.specifier.contains(pinned), f"{requirement}: pinned {pinned}"
    assert "tensorflow-cpu" not in constraints  # one TensorFlow distribution, CPU by default


def _parser_of(script: str, monkeypatch):
    """The argparse parser ``script``'s ``main`` builds (caught where it hands it to ``workflow.cli.main``)."""
    import workflow.cli

    caught = []
    monkeypatch.setattr(workflow.cli, "main", lambda function, p, argv=None: caught.append(p) or 0)
    __import__(script.removesuffix(".py")).main([])
    return caught[0]


# by design: `main` is the quick tour, `reproduce` the thesis' grid (reproduce.py's own default)
_DEFAULTS_ON_PURPOSE = {("main", "profile"): "quick"}


@pytest.mark.parametrize("name", sorted(_mlproject()["entry_points"]))
def test_each_mlproject_default_is_the_scripts_own_default(name, monkeypatch):
    """`mlflow run -e X` and `python X.py` with nothing given do the same: a default here that the script does not
    share (report's `data=keras` once made the report download CIFAR-10 for its gallery) fails."""
    import shlex

    entry = _mlproject()["entry_points"][name]
    p = _parser_of(entry["command"].split()[1], monkeypatch)
    values = {k: ("x" if spec.get("default") is None else str(spec["default"]))
              for k, spec in entry["parameters"].items()}
    parsed = p.parse_args(shlex.split(entry["command"].format(**{k: shlex.quote(v) for k, v in values.items()}))[2:])
    for key, spec in entry["parameters"].items():
        if spec.get("default") is None:
            continue  # required here (a model URI), nothing to compare
        expected = _DEFAULTS_ON_PURPOSE.get((name, key), p.get_default(key))
        assert getattr(parsed, key) == expected, f"{name}: -P {key} defaults to {spec['default']!r}, " \
                                                 f"the script to {p.get_default(key)!r}"
        action = next(a for a in p._actions if a.dest == key)
        if spec["type"] == "float":
            assert action.type is float, f"{name}: -P {key} is declared float, the script parses {action.type}"
