"""How far two runs of the same grid differ, cell by cell: two reports' ``cells.csv`` side by side.

    PYTHONPATH=. python bench/compare_cells.py docs/thesis-profile/cells.csv reports/thesis/cells.csv --seeds 0
    PYTHONPATH=. python bench/compare_cells.py docs/thesis-profile/cells.csv docs/thesis-profile/cells.csv --seed-pair 0,1

Made for the question "same code, same seed, another machine: how different are the numbers?" (TensorFlow's
CPU kernels differ by processor, so a model trained again elsewhere is another model), and usable for any two
reports of one profile (two recipes, two commits). ``--seed-pair 0,1`` sets A's seed 0 against B's seed 1 (one
file twice: two training seeds on one machine, the training noise to hold the machine difference against).
Cells are matched on (variant, seed, test set, attack, order); a cell in only one file is counted, not compared. Per model, in percentage points (B - A): the mean
difference, the mean and largest absolute difference, and how many cells differ by more than the larger of
their two 95% Wilson half-widths (one test cell's own sampling noise). Prints a Markdown table and JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from results.text_tables import markdown
from workflow.profiles import parse_seeds

KEYS = ["variant", "seed", "test_set", "attack", "order"]


def compare(a: pd.DataFrame, b: pd.DataFrame, seeds: tuple[int, ...] = (),
            seed_pair: tuple[int, int] | None = None) -> tuple[pd.DataFrame, dict]:
    """(per-variant table, totals) of B minus A over the cells both have, in percentage points.

    ``seeds``: only those seeds of both files. ``seed_pair`` ``(s, t)``: A's seed ``s`` against B's seed ``t``.
    """
    for name, frame in (("A", a), ("B", b)):
        missing = sorted(set(KEYS + ["accuracy", "ci95_low", "ci95_high"]) - set(frame.columns))
        if missing:
            raise ValueError(f"cells file {name} lacks columns {missing}. Received: columns={list(frame.columns)}")
    if seeds and seed_pair:
        raise ValueError(f"Give seeds or seed_pair, not both. Received: seeds={list(seeds)}, seed_pair={seed_pair}")
    if seeds:
        a, b = (f[f["seed"].astype(int).isin(seeds)] for f in (a, b))
    if seed_pair:
        if len(seed_pair) != 2:
            raise ValueError(f"seed_pair is two seeds, A's and B's. Received: seed_pair={seed_pair}")
        a = a[a["seed"].astype(int) == seed_pair[0]]
        b = b[b["seed"].astype(int) == seed_pair[1]].assign(seed=seed_pair[0])  # matched as if one seed
    for name, frame in (("A", a), ("B", b)):
        repeated = frame.duplicated(KEYS)
        if repeated.any():
            raise ValueError(f"cells file {name} has a cell twice. Received: "
                             f"{frame.loc[repeated, KEYS].iloc[0].to_dict()}")
    joined = a.merge(b, on=KEYS, suffixes=("_a", "_b"), validate="one_to_one")
    if joined.empty:
        raise ValueError(f"The two files share no cell (variant, seed, test set, attack, order). Received: "
                         + (f"seed_pair={seed_pair}" if seed_pair else f"seeds={list(seeds) or 'all'}"))
    for column in ("eps", "n"):  # one cell measured at two budgets or on two image counts is no repeat
        if column in a and column in b:
            left, right = joined[f"{column}_a"], joined[f"{column}_b"]
            unlike = ~((left == right) | (left.isna() & right.isna()))
            if unlike.any():
                first = {k: (v.item() if hasattr(v, "item") else v) for k, v in joined.loc[unlike].iloc[0].items()}
                raise ValueError(f"The two files measured {int(unlike.sum())} shared cells with another {column}. "
                                 f"Received: {({k: first[k] for k in KEYS})}, {column}={first[f'{column}_a']!r} in "
                                 f"A and {first[f'{column}_b']!r} in B")
    half = lambda side: 50 * (joined[f"ci95_high_{side}"] - joined[f"ci95_low_{side}"])  # noqa: E731
    joined = joined.assign(difference=100 * (joined["accuracy_b"] - joined["accuracy_a"]),
                           half_width=pd.concat([half("a"), half("b")], axis=1).max(axis=1))
    joined["beyond"] = joined["difference"].abs() > joined["half_width"]
    table = joined.groupby("variant", sort=False).agg(
        cells=("difference", "size"), mean_difference=("difference", "mean"),
        mean_abs_difference=("difference", lambda d: d.abs().mean()),
        max_abs_difference=("difference", lambda d: d.abs().max()), beyond_half_width=("beyond", "sum"))
    totals = {"cells": int(len(joined)), "only_in_a": int(len(a) - len(joined)),
              "only_in_b": int(len(b) - len(joined)),
              "mean_difference": round(float(joined["difference"].mean()), 2),
              "mean_abs_difference": round(float(joined["difference"].abs().mean()), 2),
              "max_abs_difference": round(float(joined["difference"].abs().max()), 2),
              "beyond_half_width": int(joined["beyond"].sum()),
              "mean_half_width": round(float(joined["half_width"].mean()), 2)}
    return table.round(2), totals


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", help="the first report's cells.csv")
    p.add_argument("b", help="the second report's cells.csv (differences are B - A)")
    p.add_argument("--seeds", default="", help="only these seeds, e.g. 0 or 0,1 (default: all)")
    p.add_argument("--seed-pair", default="", help="A's seed against B's, e.g. 0,1 (not with --seeds)")
    args = p.parse_args(argv)
    try:
        pair = tuple(int(s) for s in args.seed_pair.split(",")) if args.seed_pair.strip() else None
        table, totals = compare(pd.read_csv(args.a), pd.read_csv(args.b), parse_seeds(args.seeds), pair)
    except (ValueError, OSError) as error:
        print(f"error: {type(error).__name__}: {error} (files: {args.a}, {args.b})", file=sys.stderr)
        return 2
    print(markdown(table.astype(object), "model"))  # counts stay integers
    print(json.dumps(totals, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
