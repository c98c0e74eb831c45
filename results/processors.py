"""Which kind of processor each seed's step runs ran on, from the tags every run records (:mod:`workflow.machine`).

The same code and seed train other models on another kind of processor
(TensorFlow's CPU kernels follow its instruction sets), so a seed whose steps
ran on two kinds stands on models neither would give alone, and a reader
repeating a run needs the processor to expect the same numbers.
"""

from __future__ import annotations

import pandas as pd

from results.stage_times import own_seconds
from workflow.machine import UNRECORDED

COLUMNS = ("seed", "processor", "runs", "minutes")


def processor_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per seed and processor, the step runs and the minutes of their own work.

    ``runs``: :func:`results.collect_stage_runs` (columns of :data:`results.stage_times.COLUMNS` and
    ``processor``). Runs from before runs recorded their processor count under ``not recorded``.
    """
    if "processor" not in runs.columns:
        raise ValueError(f"processor_table needs a 'processor' column. Received: columns={list(runs.columns)}")
    if runs.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    table = (runs.assign(own=own_seconds(runs), processor=runs["processor"].fillna(UNRECORDED))
             .groupby(["seed", "processor"]).agg(runs=("run_id", "size"), seconds=("own", "sum")).reset_index())
    table["minutes"] = (table.pop("seconds") / 60.0).round(1)
    return table.sort_values(["seed", "runs"], ascending=[True, False], ignore_index=True)[list(COLUMNS)]


def mixed_seeds(table: pd.DataFrame) -> list[int]:
    """The seeds whose step runs recorded more than one kind of processor (unrecorded runs are not counted)."""
    recorded = table[table["processor"] != UNRECORDED]
    kinds = recorded.groupby("seed")["processor"].nunique()
    return sorted(int(seed) for seed in kinds[kinds > 1].index)
