"""A tracking store that outlives its machine: a copy of a SQLite store without its large artifacts, to commit.

A reproduction's store holds what a report reads (every run's parameters,
metrics and tags; per-image outcomes, curves, tables) and what only further
steps read (trained models, heatmaps, adversarial images: hundreds of MB).
:func:`save` copies the first kind into a folder that can be committed
beside the report; :func:`restore` lays it out again as a working store on
any machine, so the report can be rebuilt from it and a reproduction can go
on adding seeds to it.

Runs still RUNNING in the store are KILLED in the copy (they go on in the
store, not in the copy). A step run that lost files in the copy can be read but is never reused:
its step key is moved to the tag ``pruned_step_key``, so a reproduction on
the restored store runs that step again rather than load a model that is
not there. (Models trained again on another machine differ: TensorFlow's
CPU kernels differ by processor. So everything downstream runs again too,
and a seed is either complete in the snapshot or started afresh.)

Artifact locations are written into the copy with the placeholder root
:data:`ROOT_PLACEHOLDER` and given the restored store's real folder by
:func:`restore`.
"""

from __future__ import annotations

import datetime
import json
import shutil
import sqlite3
import tempfile
from contextlib import closing
from pathlib import Path

from workflow.tracking import STEP_KEY_TAG

ROOT_PLACEHOLDER = "file:///STORE-SNAPSHOT/mlruns"
PRUNED_KEY_TAG = "pruned_step_key"
MANIFEST = "snapshot.json"
DATABASE = "mlflow.db"
ARTIFACTS = "mlruns"
DEFAULT_MAX_FILE_BYTES = 1_000_000


def step_key_of(tags: dict) -> str:
    """A step run's key, also of one a snapshot pruned ('' for a run that is not a step)."""
    return tags.get(STEP_KEY_TAG, tags.get(PRUNED_KEY_TAG, ""))


def database_path(tracking_uri: str) -> Path:
    """The SQLite file of ``tracking_uri`` (``sqlite:///<path>``), which must exist."""
    prefix = "sqlite:///"
    if not str(tracking_uri).startswith(prefix):
        raise ValueError(f"A store snapshot needs a SQLite tracking store (sqlite:///<path>). "
                         f"Received: tracking_uri={tracking_uri!r}")
    path = Path(str(tracking_uri)[len(prefix):])
    if not path.is_file():
        raise ValueError(f"No SQLite tracking store at that path. Received: tracking_uri={tracking_uri!r}")
    return path


def _text_columns(db: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [row[0] for row in db.execute("select name from sqlite_master where type = 'table'")]
    return [(table, column[1]) for table in tables
            for column in db.execute(f'pragma table_info("{table}")')
            if column[2].upper() in ("TEXT", "VARCHAR") or column[2].upper().startswith("VARCHAR")]


def _replace_root(db: sqlite3.Connection, old: str, new: str) -> int:
    """Replace ``old`` by ``new`` in every text cell of every table that contains it; the number of cells."""
    changed = 0
    for table, column in _text_columns(db):
        cursor = db.execute(f'update "{table}" set "{column}" = replace("{column}", ?, ?) '
                            f'where instr("{column}", ?) > 0', (old, new, old))
        changed += cursor.rowcount
    return changed


def _artifact_root(database: Path) -> str:
    """The URI of the store's artifact folder, ``<folder of the database>/mlruns`` (see ``tracking.configure``)."""
    return (database.resolve().parent / ARTIFACTS).as_uri()


def _owner(relative: Path, models: dict[str, str]) -> str | None:
    """The run a file under ``mlruns/`` belongs to: ``<run id>/artifacts/...``, or a logged model's source run."""
    parts = relative.parts
    if len(parts) >= 3 and parts[0] == "models":
        return models.get(parts[1])
    if len(parts) >= 2 and parts[1] == "artifacts":
        return parts[0]
    if len(parts) >= 3 and parts[2] == "artifacts":  # <experiment id>/<run id>/artifacts/...
        return parts[1]
    return None


def save(tracking_uri: str, output: str | Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> dict:
    """Copy the store of ``tracking_uri`` into ``output``, leaving out artifact files over ``max_file_bytes``.

    A snapshot already in ``output`` is replaced only once the new one is complete; a folder that holds
    something else is refused.
    """
    database = database_path(tracking_uri)
    if int(max_file_bytes) < 0:
        raise ValueError(f"max_file_bytes must be >= 0. Received: max_file_bytes={max_file_bytes!r}")
    output = Path(output)
    if output.exists() and any(output.iterdir()) and not (output / MANIFEST).is_file():
        raise ValueError(f"The output folder holds something other than a store snapshot; choose an empty or "
                         f"new folder. Received: output={str(output)!r}")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=output.parent))
    try:
        copy = staging / DATABASE
        now = datetime.datetime.now(datetime.timezone.utc)
        now_ms = int(now.timestamp() * 1000)
        with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)  # consistent even while a reproduction writes to the store
        source_root = database.resolve().parent / ARTIFACTS
        kept, left_out = [], []
        with closing(sqlite3.connect(copy)) as db, db:
            models = dict(db.execute("select model_id, source_run_id from logged_models"))
            for path in sorted(p for p in source_root.rglob("*") if p.is_file()) if source_root.is_dir() else []:
                relative = path.relative_to(source_root)
                size = path.stat().st_size
                if size > int(max_file_bytes):
                    left_out.append({"path": relative.as_posix(), "bytes": size, "run_id": _owner(relative, models)})
                    continue
                destination = staging / ARTIFACTS / relative
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, destination)
                kept.append(size)
            pruned = sorted({row["run_id"] for row in left_out if row["run_id"]})
            db.executemany(f"update tags set key = '{PRUNED_KEY_TAG}' where key = '{STEP_KEY_TAG}' and run_uuid = ?",
                           [(run_id,) for run_id in pruned])
            # a run still going on in the source goes on there, not in the copy
            db.execute("update runs set status = 'KILLED', end_time = ? where status = 'RUNNING'", (now_ms,))
            _replace_root(db, _artifact_root(database), ROOT_PLACEHOLDER)
            runs = dict(db.execute("select status, count(*) from runs group by status"))
        with closing(sqlite3.connect(copy)) as db:
            db.execute("vacuum")
        manifest = {
            "created": now.isoformat(timespec="seconds"),
            "source": str(tracking_uri), "max_file_bytes": int(max_file_bytes), "runs": runs,
            "files_kept": len(kept), "bytes_kept": sum(kept), "files_left_out": len(left_out),
            "bytes_left_out": sum(row["bytes"] for row in left_out), "runs_pruned": pruned, "left_out": left_out,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if output.exists():
            shutil.rmtree(output)
        staging.rename(output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"output": str(output), **{k: v for k, v in manifest.items() if k != "left_out"}}


def restore(snapshot: str | Path, store: str | Path) -> dict:
    """Lay the snapshot in ``snapshot`` out as a working store in folder ``store``; returns its tracking URI."""
    snapshot, store = Path(snapshot), Path(store)
    if not (snapshot / MANIFEST).is_file() or not (snapshot / DATABASE).is_file():
        raise ValueError(f"Not a store snapshot (no {MANIFEST} and {DATABASE}). Received: snapshot={str(snapshot)!r}")
    if (store / DATABASE).exists() or (store / ARTIFACTS).exists():
        raise ValueError(f"A store is already in that folder; restore into a new one. Received: store={str(store)!r}")
    store.mkdir(parents=True, exist_ok=True)
    shutil.copy2(snapshot / DATABASE, store / DATABASE)
    if (snapshot / ARTIFACTS).is_dir():
        shutil.copytree(snapshot / ARTIFACTS, store / ARTIFACTS)
    with closing(sqlite3.connect(store / DATABASE)) as db, db:
        changed = _replace_root(db, ROOT_PLACEHOLDER, (store.resolve() / ARTIFACTS).as_uri())
    manifest = json.loads((snapshot / MANIFEST).read_text())
    return {"tracking_uri": f"sqlite:///{(store / DATABASE).resolve()}", "store": str(store.resolve()),
            "locations_rewritten": changed, "runs": manifest["runs"], "runs_pruned": len(manifest["runs_pruned"])}
