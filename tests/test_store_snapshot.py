"""Store snapshots: a store without its large artifacts, restored elsewhere, read like the original, never reused
where a file is missing."""

import json
import sqlite3

import mlflow
import numpy as np
import pytest

import snapshot
from tests.conftest import fresh_store
from workflow import step_runs, store_snapshot, tracking


def _store(folder):
    """A store with a step ``base`` that logs a small array, a step ``large`` that reads it and logs a small array
    and a large file, a step ``small`` with a small array only, and a run left RUNNING."""
    uri = tracking.configure(fresh_store(folder))
    step_runs._steps.clear()
    calls = []

    def large():
        calls.append("large")
        tracking.log_arrays("outcomes.npz", correct=np.array([True, False, True]))
        path = folder / "weights.bin"
        path.write_bytes(b"\0" * 5000)
        mlflow.log_artifact(str(path))

    def logs(name, values):
        def body():
            calls.append(name)
            tracking.log_arrays("outcomes.npz", correct=np.array(values))
        return body

    ids = {"base": step_runs.get_or_run("heatmaps", "base-x", {"c": 3}, {}, "workflow.steps.heatmaps",
                                        logs("base", [True]))}
    ids["large"] = step_runs.get_or_run("train", "train-x", {"a": 1}, {"base": ids["base"]}, "workflow.steps.train",
                                        large)
    ids["small"] = step_runs.get_or_run("evaluate", "evaluate-x", {"b": 2}, {}, "workflow.steps.evaluate",
                                        logs("small", [False, False]))
    client = mlflow.MlflowClient()
    client.create_run(tracking.experiment_id(), run_name="still-going")
    for name in ("large", "small"):  # a registered version with an alias for each of these steps' runs
        client.create_registered_model(f"model-{name}")
        version = client.create_model_version(f"model-{name}", f"runs:/{ids[name]}/outcomes.npz", run_id=ids[name])
        client.set_registered_model_alias(f"model-{name}", "current", version.version)
    mlflow.set_tracking_uri(None)
    return uri, ids, calls


def _again(uri, calls):
    """The steps asked for again against store ``uri``, as a new entry run would."""
    tracking.configure(uri)
    step_runs._steps.clear()
    base = step_runs.get_or_run("heatmaps", "base-x", {"c": 3}, {}, "workflow.steps.heatmaps",
                                lambda: calls.append("base"))
    return {"base": base,
            "large": step_runs.get_or_run("train", "train-x", {"a": 1}, {"base": base}, "workflow.steps.train",
                                          lambda: calls.append("large")),
            "small": step_runs.get_or_run("evaluate", "evaluate-x", {"b": 2}, {}, "workflow.steps.evaluate",
                                          lambda: calls.append("small"))}


def test_a_restored_snapshot_reads_like_the_store_and_reruns_only_steps_that_lost_files(tmp_path):
    (tmp_path / "source").mkdir()
    uri, ids, calls = _store(tmp_path / "source")
    saved = store_snapshot.save(uri, tmp_path / "snap", max_file_bytes=1000)
    assert saved["files_left_out"] == 1 and saved["bytes_left_out"] == 5000
    # base left out nothing but is read by large: on another machine it would be another base
    assert saved["runs_pruned"] == sorted([ids["large"], ids["base"]])
    assert saved["runs"] == {"FINISHED": 3, "KILLED": 1}  # the RUNNING run goes on in the store, not the copy
    manifest = json.loads((tmp_path / "snap" / store_snapshot.MANIFEST).read_text())
    assert manifest["left_out"] == [{"path": f"{ids['large']}/artifacts/weights.bin", "bytes": 5000,
                                     "run_id": ids["large"]}]
    with sqlite3.connect(tmp_path / "snap" / store_snapshot.SNAPSHOT_DATABASE) as db:  # no path of this machine
        uris = [row[0] for row in db.execute("select artifact_uri from runs")]
    assert all(u.startswith(store_snapshot.ROOT_PLACEHOLDER) for u in uris)

    restored = store_snapshot.restore(tmp_path / "snap", tmp_path / "elsewhere")
    assert restored["tracking_uri"] == f"sqlite:///{(tmp_path / 'elsewhere' / 'mlflow.db').resolve()}"
    client = mlflow.MlflowClient(restored["tracking_uri"])
    for name, expected in (("large", [True, False, True]), ("small", [False, False]), ("base", [True])):
        tracking._loaded.clear()
        arrays = tracking.load_arrays(ids[name], "outcomes.npz", tracking_uri=restored["tracking_uri"])
        np.testing.assert_array_equal(arrays["correct"], expected)
        run = client.get_run(ids[name])
        assert run.data.params == mlflow.MlflowClient(uri).get_run(ids[name]).data.params
    pruned, kept = (client.get_run(ids[name]).data.tags for name in ("large", "small"))
    assert tracking.STEP_KEY_TAG not in pruned and store_snapshot.PRUNED_KEY_TAG not in kept
    source = mlflow.MlflowClient(uri)  # the stage table still links a pruned run to its interrupted attempts
    for run_id, tags in ((ids["large"], pruned), (ids["small"], kept)):
        assert store_snapshot.step_key_of(tags) == source.get_run(run_id).data.tags[tracking.STEP_KEY_TAG]
    assert store_snapshot.step_key_of({"step": "entry"}) == ""

    with pytest.raises(mlflow.exceptions.MlflowException):  # the alias of a model left out is gone
        client.get_model_version_by_alias("model-large", "current")
    assert client.get_model_version_by_alias("model-small", "current").run_id == ids["small"]

    calls.clear()
    again = _again(restored["tracking_uri"], calls)
    assert calls == ["base", "large"] and again["small"] == ids["small"] and again["large"] != ids["large"]
    again_saved = store_snapshot.save(restored["tracking_uri"], tmp_path / "snap-again", max_file_bytes=1000)
    assert set(again_saved["runs_pruned"]) >= {ids["large"], ids["base"]}  # the file it never had is still named
    assert again_saved["files_left_out"] == 1 and again_saved["bytes_left_out"] == 5000
    calls.clear()  # the source store is untouched: both steps reused there
    assert _again(uri, calls) == ids and calls == []
    assert (tmp_path / "source" / "mlruns").exists()


def test_git_commits_every_file_of_a_snapshot():
    """.gitignore hides mlflow.db and mlruns/ anywhere: a snapshot's names must not be those."""
    import subprocess

    from tests.conftest import REPO

    def ignored(path):
        return subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", path]).returncode == 0

    assert ignored("docs/thesis-profile/store/mlflow.db")  # the check itself works
    assert not ignored(f"docs/thesis-profile/store/{store_snapshot.SNAPSHOT_DATABASE}")
    assert not ignored(f"docs/thesis-profile/store/{store_snapshot.MANIFEST}")
    assert not ignored(f"docs/thesis-profile/store/{store_snapshot.SNAPSHOT_ARTIFACTS}/abc/artifacts/outcomes.npz")


def test_a_store_restored_into_a_folder_with_a_percent_sign_reads_back(tmp_path):
    (tmp_path / "source").mkdir()
    uri, ids, _ = _store(tmp_path / "source")
    store_snapshot.save(uri, tmp_path / "snap")
    store = tmp_path / "run %41 of 100%" / "store"  # SQLAlchemy would read "%41" in a tracking URI as "A"
    restored = store_snapshot.restore(tmp_path / "snap", store)
    assert restored["tracking_uri"] == f"sqlite:///{store.resolve()}/mlflow.db".replace("%", "%25")
    assert store_snapshot.database_path(restored["tracking_uri"]) == (store / "mlflow.db").resolve()
    arrays = tracking.load_arrays(ids["small"], "outcomes.npz", tracking_uri=restored["tracking_uri"])
    assert arrays["correct"].tolist() == [False, False]
    assert not (tmp_path / "run A of 100%").exists()  # nothing made in the folder a decoded "%41" names


def test_a_moved_store_is_named_not_copied_empty(tmp_path):
    (tmp_path / "source").mkdir()
    _store(tmp_path / "source")
    (tmp_path / "source").rename(tmp_path / "moved")
    with pytest.raises(ValueError, match="has step runs but no artifact folder where the database says.*artifact_location='file:"):
        store_snapshot.save(f"sqlite:///{tmp_path / 'moved' / 'mlflow.db'}", tmp_path / "snap")
    assert not (tmp_path / "snap").exists()


def test_a_new_snapshot_replaces_an_old_one_and_nothing_else(tmp_path):
    (tmp_path / "source").mkdir()
    uri, ids, _ = _store(tmp_path / "source")
    store_snapshot.save(uri, tmp_path / "snap", max_file_bytes=10)
    assert len(store_snapshot.save(uri, tmp_path / "snap")["runs_pruned"]) == 0  # default limit keeps 5 kB
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".snapshot-")]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="something other than a store snapshot.*Received: output="):
        store_snapshot.save(uri, tmp_path / "other")
    assert (tmp_path / "other" / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize("call, message", [
    (lambda p: store_snapshot.save("http://localhost:5000", p / "s"), "needs a SQLite.*tracking_uri='http"),
    (lambda p: store_snapshot.save(f"sqlite:///{p}/none.db", p / "s"), "No SQLite tracking store"),
    (lambda p: store_snapshot.save(f"sqlite:///{p}/source/mlflow.db", p / "s", max_file_bytes=-1),
     "max_file_bytes=-1"),
    (lambda p: store_snapshot.save(f"sqlite:///{p}/source/mlflow.db", p / "s", max_file_bytes=2.7),
     "max_file_bytes=2.7"),
    (lambda p: store_snapshot.save(f"sqlite:///{p}/source/mlflow.db", p / "s", max_file_bytes=True),
     "max_file_bytes=True"),
    (lambda p: store_snapshot.restore(p / "source", p / "x"), "Not a store snapshot.*snapshot="),
])
def test_bad_input_is_named(tmp_path, call, message):
    (tmp_path / "source").mkdir()
    fresh_store(tmp_path / "source")
    with pytest.raises(ValueError, match=message):
        call(tmp_path)


def test_restoring_over_a_store_is_refused_and_the_cli_says_why(tmp_path, capsys):
    (tmp_path / "source").mkdir()
    uri, _, _ = _store(tmp_path / "source")
    assert snapshot.main(["save", "--tracking-uri", uri, "--output", str(tmp_path / "snap")]) == 0
    assert json.loads(capsys.readouterr().out)["runs"]["FINISHED"] == 3
    assert snapshot.main(["restore", str(tmp_path / "snap"), "--into", str(tmp_path / "source")]) == 2
    assert "A store or a snapshot is already in that folder" in capsys.readouterr().err
    assert mlflow.MlflowClient(uri).search_runs([tracking.experiment_id()])  # the store is still there


def test_a_snapshot_never_replaces_a_store_and_a_failed_restore_leaves_nothing(tmp_path):
    (tmp_path / "source").mkdir()
    uri, _, _ = _store(tmp_path / "source")
    for output in (tmp_path / "source", tmp_path):  # the store's folder, or a folder above it
        with pytest.raises(ValueError, match="something other than a store snapshot"):
            store_snapshot.save(uri, output)
    assert (tmp_path / "source" / "mlflow.db").is_file() and (tmp_path / "source" / "mlruns").is_dir()
    store_snapshot.save(uri, tmp_path / "snap")
    restored = store_snapshot.restore(tmp_path / "snap", tmp_path / "restored")
    with pytest.raises(ValueError, match="something other than a store snapshot"):  # it has the old manifest
        store_snapshot.save(restored["tracking_uri"], tmp_path / "restored")
    assert (tmp_path / "restored" / "mlflow.db").is_file()
    (tmp_path / "snap" / store_snapshot.MANIFEST).write_text("{not json")
    with pytest.raises(ValueError, match="Unreadable snapshot manifest"):
        store_snapshot.restore(tmp_path / "snap", tmp_path / "again")
    assert not (tmp_path / "again").exists()  # no half store to refuse the next try
    with pytest.raises(ValueError, match="A store or a snapshot is already in that folder"):
        store_snapshot.restore(tmp_path / "snap", tmp_path / "snap")


def test_a_store_restored_into_a_snapshots_folder_is_refused_and_never_deleted_by_a_save(tmp_path):
    (tmp_path / "source").mkdir()
    uri, _, _ = _store(tmp_path / "source")
    store_snapshot.save(uri, tmp_path / "snap")
    with pytest.raises(ValueError, match="A store or a snapshot is already in that folder.*snap'"):
        store_snapshot.restore(tmp_path / "snap", tmp_path / "snap")
    store_snapshot.save(uri, tmp_path / "other")
    with pytest.raises(ValueError, match="A store or a snapshot is already in that folder"):
        store_snapshot.restore(tmp_path / "other", tmp_path / "snap")
    # whatever else lies in a snapshot's folder (a store restored there by hand, notes) stops the next save
    (tmp_path / "snap" / "mlflow.db").write_bytes(b"work")
    (tmp_path / "snap" / "NOTES.md").write_text("mine")
    with pytest.raises(ValueError, match=r"something other than a store snapshot \(NOTES.md, mlflow.db\)"):
        store_snapshot.save(uri, tmp_path / "snap")
    assert (tmp_path / "snap" / "mlflow.db").read_bytes() == b"work"
    assert (tmp_path / "snap" / "NOTES.md").read_text() == "mine"
    (tmp_path / "link").symlink_to(tmp_path / "other")
    with pytest.raises(ValueError, match="The output is a link.*link'"):
        store_snapshot.save(uri, tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and store_snapshot._is_snapshot(tmp_path / "other")


@pytest.mark.parametrize("manifest, message", [
    ("{not json", "Unreadable snapshot manifest"),
    ("[1, 2]", "lacks runs \\(a dict\\), runs_pruned \\(a list\\), left_out \\(a list\\)"),
    ('{"runs": {}, "left_out": []}', "lacks runs_pruned \\(a list\\)"),
])
def test_a_broken_manifest_is_named_before_anything_is_restored(tmp_path, manifest, message):
    (tmp_path / "source").mkdir()
    uri, _, _ = _store(tmp_path / "source")
    store_snapshot.save(uri, tmp_path / "snap")
    (tmp_path / "snap" / store_snapshot.MANIFEST).write_text(manifest)
    with pytest.raises(ValueError, match=f"{message}.*manifest='.*snapshot.json'"):
        store_snapshot.restore(tmp_path / "snap", tmp_path / "again")
    assert not (tmp_path / "again").exists()  # nothing to refuse the next try


def test_a_snapshot_folder_gets_the_mode_of_a_plain_folder(tmp_path):
    (tmp_path / "source").mkdir()
    uri, _, _ = _store(tmp_path / "source")
    (tmp_path / "plain").mkdir()
    store_snapshot.save(uri, tmp_path / "snap")
    assert (tmp_path / "snap").stat().st_mode & 0o777 == (tmp_path / "plain").stat().st_mode & 0o777
