"""Store snapshots: a SQLite tracking store without its large artifacts, to commit beside a report.

    python snapshot.py save --tracking-uri sqlite:////work/thesis-store/mlflow.db --output docs/thesis-profile/store
    python snapshot.py restore docs/thesis-profile/store --into /tmp/thesis-store
    python report.py --profile thesis --tracking-uri sqlite:////tmp/thesis-store/mlflow.db --output reports

A machine and what is on it may be gone by the next session; a snapshot in
the repository is not. It keeps every run (parameters, metrics, tags) and
every artifact file up to ``--max-file-bytes`` (per-image outcomes, curves,
tables); models, heatmaps and adversarial images are left out and listed in
``snapshot.json``. A step run that lost files is never reused (see
:mod:`workflow.store_snapshot`): a reproduction on a restored store computes
those steps again.
"""

from __future__ import annotations

import argparse
import json
import sys

from workflow import store_snapshot


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = p.add_subparsers(dest="command", required=True)
    save = commands.add_parser("save", help="copy a SQLite store, large artifact files left out")
    save.add_argument("--tracking-uri", required=True, help="the store: sqlite:///<path to its database>")
    save.add_argument("--output", required=True, help="the snapshot's folder (a snapshot there is replaced)")
    save.add_argument("--max-file-bytes", type=int, default=store_snapshot.DEFAULT_MAX_FILE_BYTES,
                      help=f"artifact files larger than this are left out (default: "
                           f"{store_snapshot.DEFAULT_MAX_FILE_BYTES})")
    restore = commands.add_parser("restore", help="lay a snapshot out as a working store in a new folder")
    restore.add_argument("snapshot", help="the snapshot's folder")
    restore.add_argument("--into", required=True, help="the new store's folder (must not hold a store)")
    args = p.parse_args(argv)
    try:
        if args.command == "save":
            result = store_snapshot.save(args.tracking_uri, args.output, args.max_file_bytes)
        else:
            result = store_snapshot.restore(args.snapshot, args.into)
    except (ValueError, OSError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
        return 2
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
