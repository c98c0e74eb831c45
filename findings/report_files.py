"""The findings' files: ``findings.md`` with its forest plot, and its two tables as CSV (the report's and the
notebook's, written by one function)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from findings.figure import forest_figure
from findings.page import findings_page

FIGURE = Path("figures") / "findings.png"


def write_findings(comparisons: pd.DataFrame, claims: pd.DataFrame, folder: Path,
                   masking: pd.DataFrame | None = None) -> list[Path]:
    """Write ``findings_comparisons.csv``, ``findings_claims.csv``, ``figures/findings.png`` and ``findings.md``
    (which shows the figure and, under each claim, the masking flags on its systems) to ``folder``."""
    folder = Path(folder)
    (folder / FIGURE.parent).mkdir(parents=True, exist_ok=True)
    comparisons.to_csv(folder / "findings_comparisons.csv", index=False)
    claims.to_csv(folder / "findings_claims.csv", index=False)
    figure = forest_figure(comparisons, claims)
    figure.savefig(folder / FIGURE)
    plt.close(figure)
    (folder / "findings.md").write_text(findings_page(comparisons, claims, masking, figure=FIGURE.as_posix()))
    return [folder / name for name in ("findings_comparisons.csv", "findings_claims.csv", FIGURE, "findings.md")]
