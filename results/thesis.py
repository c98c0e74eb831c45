"""The thesis' published numbers (Tables 4.1-4.5), kept in one data file, and our difference to them.

``thesis_tables.csv`` has one row per (table, row, column) with the accuracy in
% as printed in the thesis, and a ``source`` column citing the table. A value
left empty has not been transcribed: the difference for that cell is missing,
never computed against zero.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

THESIS_FILE = Path(__file__).with_name("thesis_tables.csv")
COLUMNS = ["model", "row", "column", "accuracy", "source"]


def load_thesis(path: Path = THESIS_FILE) -> pd.DataFrame:
    frame = pd.read_csv(path, comment="#", dtype={"model": str, "row": str, "column": str, "source": str})
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path} lacks column(s) {missing}. Expected {COLUMNS}. "
                         f"Received: columns={list(frame.columns)}")
    frame["accuracy"] = pd.to_numeric(frame["accuracy"], errors="coerce")
    return frame


def thesis_accuracy(thesis: pd.DataFrame, model_label: str, row: str, column: str | None) -> float:
    """The thesis' accuracy (%) in one cell of its tables, NaN where it has none (or ``column`` is None)."""
    match = thesis[(thesis["model"] == model_label) & (thesis["row"] == row) & (thesis["column"] == column)]
    return float(match["accuracy"].iloc[0]) if len(match) else float("nan")


def thesis_table(thesis: pd.DataFrame, model_label: str, like: pd.DataFrame) -> pd.DataFrame:
    """The thesis' table for one model, shaped like ``like`` (our numeric table); NaN where unknown."""
    mine = thesis[thesis["model"] == model_label]
    table = pd.DataFrame(float("nan"), index=like.index, columns=like.columns)
    for row in mine.itertuples():
        if row.row in table.index and row.column in table.columns:
            table.loc[row.row, row.column] = row.accuracy
    return table


def thesis_difference(ours: pd.DataFrame, thesis: pd.DataFrame) -> pd.DataFrame:
    """Ours minus the thesis', in percentage points; NaN wherever either is missing."""
    return ours - thesis
