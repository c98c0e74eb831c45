"""A tracking store that outlives its machine: a copy of a SQLite store without its large artifacts, to commit.

A reproduction's store holds what a report reads (every run's parameters,
metrics and tags; per-image outcomes, curves, tables) and what only further
steps read (trained models, heatmaps, adversarial images: hundreds of MB).
:func:`save` copies the first kind into a folder that can be committed
beside the report; :func:`restore` lays it out again as a working store on
any machine, so the report can be rebuilt from it and a reproduction can go
on adding seeds to it.

Runs still RUNNING in the store are KILLED in the copy (they go on in the
store, not in the copy). A step run that lost files in the copy, and every
run it reads (transitively), can be read but is never reused: their step keys
move to the tag ``pruned_step_key``, so a reproduction on the restored store
runs those steps again rather than load a model that is not there. (Models
trained again on another machine differ: TensorFlow's CPU kernels differ by
processor. Step keys chain through upstream run ids, so everything downstream
runs again too, and a seed's runs never stand on two machines' models.)

Every run's and logged model's artifacts are copied from the location the
database gives (a store whose folder was moved is refused, not copied empty),
into one layout:
``artifacts/<run id>/artifacts/...`` and ``artifacts/models/<model id>/...``,
written into the copy under the placeholder root :data:`ROOT_PLACEHOLDER` and
given the restored store's real folder by :func:`restore`. Registry aliases
of models left out are dropped from the copy (a ``models:/name@alias`` would
name a model that is not there). The snapshot's files are named so that
``.gitignore`` (``mlflow.db``, ``mlruns/``) does not hide them.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import sqlite3
import tempfile
import urllib.parse
from contextlib import closing
from pathlib import Path

import checks
from workflow.tracking import STEP_KEY_TAG

ROOT_PLACEHOLDER = "file:///STORE-SNAPSHOT/mlruns"
PRUNED_KEY_TAG = "pruned_step_key"
MANIFEST = "snapshot.json"
SNAPSHOT_DATABASE, SNAPSHOT_ARTIFACTS = "tracking.sqlite", "artifacts"  # in the snapshot
DATABASE, ARTIFACTS = "mlflow.db", "mlruns"  # in a working store (as ``tracking.configure`` lays it out)
RESTORED_FROM = "restored-from-snapshot.json"  # in a restored store: its snapshot's manifest
DEFAULT_MAX_FILE_BYTES = 250_000  # keeps outcomes (about 35 kB a model), tables; not images
MANIFEST_FIELDS = {"runs": dict, "runs_pruned": list, "left_out": list}  # what restore and a re-save read


def step_key_of(tags: dict) -> str:
    """A step run's key, also of one a snapshot pruned ('' for a run that is not a step)."""
    return tags.get(STEP_KEY_TAG, tags.get(PRUNED_KEY_TAG, ""))


SQLITE_PREFIX = "sqlite:///"


def sqlite_uri(database: Path) -> str:
    """The tracking URI of a SQLite file: SQLAlchemy reads the path percent-decoded (``%41`` is ``A``), so a ``%``
    in it is written ``%25``."""
    return SQLITE_PREFIX + str(database).replace("%", "%25")


def database_path(tracking_uri: str) -> Path:
    """The SQLite file of ``tracking_uri`` (``sqlite:///<path>``, percent-decoded as SQLAlchemy reads it), which
    must exist."""
    if not str(tracking_uri).startswith(SQLITE_PREFIX):
        raise ValueError(f"A store snapshot needs a SQLite tracking store (sqlite:///<path>). "
                         f"Received: tracking_uri={tracking_uri!r}")
    path = Path(urllib.parse.unquote(str(tracking_uri)[len(SQLITE_PREFIX):]))
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


def _local_folder(uri: str, what: str) -> Path:
    """The folder of a local artifact location (``file://`` URI or plain path); other schemes are refused."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme == "file":
        return Path(urllib.parse.unquote(parsed.path))
    if parsed.scheme == "" or len(parsed.scheme) == 1:  # a plain path (or a Windows drive letter)
        return Path(uri)
    raise ValueError(f"A store snapshot copies local artifacts only. Received: {what}={uri!r}")


def _copy_small_files(source: Path, destination: Path, limit: int, owner: str | None, kept: list,
                      left_out: list, relative_to: Path) -> None:
    """Copy the files under ``source`` of at most ``limit`` bytes; list the others (with their run)."""
    for path in sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else []:
        size = path.stat().st_size
        if size > limit:
            left_out.append({"path": (relative_to / path.relative_to(source)).as_posix(), "bytes": size,
                             "run_id": owner})
            continue
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        kept.append(size)


def read_manifest(path: Path) -> dict:
    """A snapshot's manifest (``snapshot.json``, or a restored store's copy of it), checked for the fields the
    snapshot code reads; a broken one is named before anything is copied."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"Unreadable snapshot manifest ({type(error).__name__}: {error}). "
                         f"Received: manifest={str(path)!r}") from None
    wrong = [f"{field} (a {kind.__name__})" for field, kind in MANIFEST_FIELDS.items()
             if not isinstance(manifest, dict) or not isinstance(manifest.get(field), kind)]
    if wrong:
        raise ValueError(f"The snapshot manifest lacks {', '.join(wrong)}. Received: manifest={str(path)!r}")
    return manifest


def _left_out_earlier(database: Path, listed: set[str]) -> list[dict]:
    """What the snapshot this store was restored from left out (not listed again): a store restored, grown and
    saved again still names every file it never had."""
    earlier = database.parent / RESTORED_FROM
    if not earlier.is_file():
        return []
    return [row for row in read_manifest(earlier)["left_out"] if row["path"] not in listed]


def _with_upstream(db: sqlite3.Connection, pruned: set[str]) -> set[str]:
    """``pruned`` and every run they read, transitively (params ``<name>_run_id``): the upstream of a step that
    runs again on another machine runs again too, so one seed never stands on two machines' models."""
    reads: dict[str, set[str]] = {}
    for run_id, value in db.execute("select run_uuid, value from params where key like '%\\_run\\_id' escape '\\'"):
        reads.setdefault(run_id, set()).add(value)
    runs = {row[0] for row in db.execute("select run_uuid from runs")}
    found, frontier = set(pruned), list(pruned)
    while frontier:
        for upstream in reads.get(frontier.pop(), set()) & runs - found:
            found.add(upstream)
            frontier.append(upstream)
    return found


def _is_snapshot(folder: Path) -> bool:
    return (folder / MANIFEST).is_file() and (folder / SNAPSHOT_DATABASE).is_file()


def _foreign_entries(folder: Path) -> list[str]:
    """What in ``folder`` a snapshot did not put there (a working store restored into it, notes): a snapshot
    is replaced only when it holds nothing else."""
    if not folder.exists():
        return []
    if folder.is_symlink() or not folder.is_dir():
        return [folder.name]
    if not _is_snapshot(folder):
        return sorted(p.name for p in folder.iterdir())
    return sorted(p.name for p in folder.iterdir() if p.name not in (MANIFEST, SNAPSHOT_DATABASE, SNAPSHOT_ARTIFACTS))


def _readable_by_all(folder: Path) -> None:
    """Give a folder made by ``mkdtemp`` (mode 0700) the mode a plain ``mkdir`` would (the umask's)."""
    umask = os.umask(0)
    os.umask(umask)
    folder.chmod(0o777 & ~umask)


def save(tracking_uri: str, output: str | Path, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES) -> dict:
    """Copy the store of ``tracking_uri`` into ``output``, leaving out artifact files over ``max_file_bytes``.

    A snapshot already in ``output`` is replaced only once the new one is complete; a folder that holds
    something else (a working store above all) is refused.
    """
    database = database_path(tracking_uri)
    max_file_bytes = checks.non_negative_int("max_file_bytes", max_file_bytes)
    output = Path(output)
    if output.is_symlink():
        raise ValueError(f"The output is a link; give the folder it points to. Received: output={str(output)!r}")
    foreign = _foreign_entries(output)
    if output.resolve() in database.resolve().parents or foreign:
        raise ValueError(f"The output folder holds something other than a store snapshot"
                         f"{' (' + ', '.join(foreign) + ')' if foreign else ''}; choose an empty or new folder. "
                         f"Received: output={str(output)!r}")
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=output.parent))
    _readable_by_all(staging)
    old = staging.with_name(staging.name + "-old")
    try:
        copy = staging / SNAPSHOT_DATABASE
        now = datetime.datetime.now(datetime.timezone.utc)
        try:
            with closing(sqlite3.connect(database)) as source, closing(sqlite3.connect(copy)) as target:
                source.backup(target)  # consistent even while a reproduction writes to the store
            manifest = _prune_and_relocate(copy, database, staging, max_file_bytes, now)
        except sqlite3.Error as error:
            raise ValueError(f"Not a readable MLflow store ({error}). Received: tracking_uri={tracking_uri!r}") from None
        manifest = {"created": now.isoformat(timespec="seconds"), "source": str(tracking_uri),
                    "max_file_bytes": max_file_bytes, **manifest}
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        if output.exists():
            output.rename(old)  # the old snapshot goes only once the new one is in place
        try:
            staging.rename(output)
        except BaseException:
            if old.exists() and not output.exists():
                old.rename(output)
            raise
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"output": str(output), **{k: v for k, v in manifest.items() if k != "left_out"}}


def _prune_and_relocate(copy: Path, database: Path, staging: Path, limit: int, now) -> dict:
    """In the copied database ``copy``: copy the artifacts up to ``limit`` bytes into ``staging``, relocate every
    location under :data:`ROOT_PLACEHOLDER`, prune, KILL what is RUNNING. The manifest's counts and lists."""
    kept, left_out = [], []
    with closing(sqlite3.connect(copy)) as db, db:
        locations = [row[0] for row in db.execute("select distinct artifact_location from experiments")]
        for experiment, location in db.execute(  # every step logs artifacts: their folder must be there
                "select name, artifact_location from experiments e where exists (select 1 from runs r join tags t "
                f"on t.run_uuid = r.run_uuid where r.experiment_id = e.experiment_id and t.key = '{STEP_KEY_TAG}')"
        ).fetchall():
            if not _local_folder(location, f"artifact_location of experiment {experiment!r}").is_dir():
                raise ValueError(f"Experiment {experiment!r} has step runs but no artifact folder where the "
                                 f"database says (was the store moved?). Received: artifact_location={location!r}")
        for run_id, uri in db.execute("select run_uuid, artifact_uri from runs").fetchall():
            relative = Path(run_id) / "artifacts"
            _copy_small_files(_local_folder(uri, f"artifact_uri of run {run_id}"),
                              staging / SNAPSHOT_ARTIFACTS / relative, limit, run_id, kept, left_out, relative)
            db.execute("update runs set artifact_uri = ? where run_uuid = ?",
                       (f"{ROOT_PLACEHOLDER}/{relative.as_posix()}", run_id))
        for model_id, uri, run_id in db.execute(
                "select model_id, artifact_location, source_run_id from logged_models").fetchall():
            relative = Path("models") / model_id / "artifacts"
            _copy_small_files(_local_folder(uri, f"artifact_location of model {model_id}"),
                              staging / SNAPSHOT_ARTIFACTS / relative, limit, run_id, kept, left_out, relative)
            _replace_root(db, uri, f"{ROOT_PLACEHOLDER}/{relative.as_posix()}")  # the model and its versions
        for location in locations:  # any other mention of a run's folder (<location>/<run id>/artifacts)
            _replace_root(db, location.rstrip("/") + "/", ROOT_PLACEHOLDER + "/")
        db.execute("update experiments set artifact_location = ?", (ROOT_PLACEHOLDER,))
        left_out += _left_out_earlier(database, {row["path"] for row in left_out})
        pruned = sorted(_with_upstream(db, {row["run_id"] for row in left_out if row["run_id"]}))
        db.executemany(f"update tags set key = '{PRUNED_KEY_TAG}' where key = '{STEP_KEY_TAG}' and run_uuid = ?",
                       [(run_id,) for run_id in pruned])
        db.executemany("delete from registered_model_aliases where exists (select 1 from model_versions v where "
                       "v.name = registered_model_aliases.name and v.version = registered_model_aliases.version "
                       "and v.run_id = ?)", [(run_id,) for run_id in pruned])
        # a run still going on in the source goes on there, not in the copy
        db.execute("update runs set status = 'KILLED', end_time = ? where status = 'RUNNING'",
                   (int(now.timestamp() * 1000),))
        runs = dict(db.execute("select status, count(*) from runs group by status"))
    with closing(sqlite3.connect(copy)) as db:
        db.execute("vacuum")
    return {"runs": runs, "files_kept": len(kept), "bytes_kept": sum(kept), "files_left_out": len(left_out),
            "bytes_left_out": sum(row["bytes"] for row in left_out), "runs_pruned": pruned, "left_out": left_out}


LOCATION_COLUMNS = (("runs", "artifact_uri"), ("experiments", "artifact_location"),
                    ("logged_models", "artifact_location"), ("model_versions", "storage_location"))


def restore(snapshot: str | Path, store: str | Path) -> dict:
    """Lay the snapshot in ``snapshot`` out as a working store in folder ``store``; returns its tracking URI.

    Built beside ``store`` and moved in at the end: a failed restore leaves no half store behind.
    """
    snapshot, store = Path(snapshot), Path(store)
    if not _is_snapshot(snapshot):
        raise ValueError(f"Not a store snapshot (no {MANIFEST} and {SNAPSHOT_DATABASE}). "
                         f"Received: snapshot={str(snapshot)!r}")
    if ((store / DATABASE).exists() or (store / ARTIFACTS).exists() or store.resolve() == snapshot.resolve()
            or _is_snapshot(store)):  # a store inside a snapshot's folder would go with the snapshot's next save
        raise ValueError(f"A store or a snapshot is already in that folder; restore into a new one. "
                         f"Received: store={str(store)!r}")
    manifest = read_manifest(snapshot / MANIFEST)
    store.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=store))
    try:
        shutil.copy2(snapshot / SNAPSHOT_DATABASE, staging / DATABASE)
        if (snapshot / SNAPSHOT_ARTIFACTS).is_dir():
            shutil.copytree(snapshot / SNAPSHOT_ARTIFACTS, staging / ARTIFACTS)
        root = (store.resolve() / ARTIFACTS).as_uri()
        try:
            with closing(sqlite3.connect(staging / DATABASE)) as db, db:
                changed = _replace_root(db, ROOT_PLACEHOLDER, root)
                elsewhere = sum(db.execute(f'select count(*) from "{table}" where (instr("{column}", \'file:\') = 1 '
                                           f'or instr("{column}", \'/\') = 1) and instr("{column}", ?) != 1',
                                           (root,)).fetchone()[0]  # local paths only (not models:/, runs:/)
                                for table, column in LOCATION_COLUMNS)
        except sqlite3.Error as error:
            raise ValueError(f"Not a readable snapshot database ({error}). Received: snapshot={str(snapshot)!r}") \
                from None
        if elsewhere:
            raise ValueError(f"{elsewhere} artifact locations of the restored store lie outside it: not a snapshot "
                             f"made by this version. Received: snapshot={str(snapshot)!r}")
        shutil.copy2(snapshot / MANIFEST, staging / RESTORED_FROM)  # what it left out, for the next snapshot
        for name in (DATABASE, ARTIFACTS, RESTORED_FROM):
            if (staging / name).exists():
                (staging / name).rename(store / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"tracking_uri": sqlite_uri((store / DATABASE).resolve()), "store": str(store.resolve()),
            "locations_rewritten": changed, "runs": manifest["runs"], "runs_pruned": len(manifest["runs_pruned"])}
