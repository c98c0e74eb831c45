"""The committed thesis-profile results are what this code makes from the committed store snapshot.

``docs/thesis-profile/`` holds a report and the snapshot of the store it was
made from. Restored, the snapshot must give every text file of the report
byte for byte: a change to the tables, statistics or findings that leaves the
committed numbers stale fails here until they are rebuilt (the commands are in
``docs/thesis-profile/README.md``). Figures are left out (they are pixels of
the same numbers), and so is the heatmap gallery, which needs the heatmaps a
snapshot leaves out.
"""

import sys

import pandas as pd
import pytest

from tests.conftest import REPO, run_command

FOLDER = REPO / "docs" / "thesis-profile"
TEXT_SUFFIXES = {".csv", ".md", ".tex"}


def _text_files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES)


@pytest.mark.skipif(not (FOLDER / "store").is_dir(), reason="no committed store snapshot")
def test_committed_report_is_rebuilt_byte_for_byte_from_its_snapshot(tmp_path):
    seeds = ",".join(str(s) for s in sorted(set(pd.read_csv(FOLDER / "cells.csv")["seed"])))
    restored = run_command([sys.executable, REPO / "snapshot.py", "restore", FOLDER / "store", "--into", tmp_path / "store"])
    assert restored.returncode == 0, restored.stderr[-2000:]
    made = run_command([sys.executable, REPO / "report.py", "--profile", "thesis", "--tracking-uri",
                        f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}", "--output", tmp_path / "out", "--seeds",
                        seeds], cwd=tmp_path)
    assert made.returncode == 0, made.stderr[-2000:]
    rebuilt = tmp_path / "out" / "thesis"
    committed = [p for p in _text_files(FOLDER) if p.parts[0] not in ("store", "first-machine") and p.name != "README.md"]
    assert _text_files(rebuilt) == committed and len(committed) >= 40
    stale = [str(p) for p in committed if (rebuilt / p).read_bytes() != (FOLDER / p).read_bytes()]
    assert not stale, f"committed files the snapshot no longer gives (rebuild docs/thesis-profile): {stale}"
