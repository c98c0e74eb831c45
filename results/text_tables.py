"""Tables as text: Markdown and LaTeX, numbers with one decimal, missing values as —."""

from __future__ import annotations

import pandas as pd


def markdown(table: pd.DataFrame, corner: str = "") -> str:
    header = "| " + " | ".join([corner, *map(str, table.columns)]) + " |"
    rule = "|" + "---|" * (len(table.columns) + 1)
    body = ["| " + " | ".join([str(index), *(text_value(v) for v in row)]) + " |" for index, row in table.iterrows()]
    return "\n".join([header, rule, *body])


def latex(table: pd.DataFrame, caption: str) -> str:
    def escape(text) -> str:
        return str(text).replace("_", r"\_").replace("%", r"\%").replace("±", r"$\pm$").replace("—", "--")

    lines = [r"\begin{table}[ht]", r"\centering", r"\begin{tabular}{l" + "r" * len(table.columns) + "}",
             r"\hline", " & ".join(["", *map(escape, table.columns)]) + r" \\", r"\hline"]
    lines += [" & ".join([escape(i), *(escape(text_value(v)) for v in row)]) + r" \\" for i, row in table.iterrows()]
    lines += [r"\hline", r"\end{tabular}", rf"\caption{{{escape(caption)}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def text_value(value) -> str:
    """A table cell as text: floats with one decimal, NaN as —."""
    if isinstance(value, float):
        return "—" if pd.isna(value) else f"{value:.1f}"
    return str(value)


def signed(table: pd.DataFrame) -> pd.DataFrame:
    """Differences as text with their sign (+1.0, -2.5), NaN as —."""
    return table.map(lambda v: "—" if pd.isna(v) else f"{v:+.1f}")
