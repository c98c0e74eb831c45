"""Findings: each of the thesis' claims put to a paired test, with a verdict computed by a written rule.

    outcomes = results.collect_outcomes(uri, profile="thesis")   # (variant, seed) -> metric -> correct per image
    comparisons, claims = findings.evaluate_claims(outcomes)     # one row per comparison; one per claim
    page = findings.findings_page(comparisons, claims)            # Markdown: findings.md
    figure = findings.forest_figure(comparisons, claims)          # every effect with its interval
    findings.write_findings(comparisons, claims, folder)          # the page, its figure and tables
"""

from findings.claims import CLAIMS, Claim, Comparison, CellRef, register
from findings.figure import forest_figure
from findings.page import evaluate_claims, findings_page, thesis_values
from findings.report_files import write_findings
from findings.verdict import ALPHA, EQUIVALENCE_MARGIN, RULE, claim_verdict

__all__ = ["ALPHA", "CLAIMS", "CellRef", "Claim", "Comparison", "EQUIVALENCE_MARGIN", "RULE", "claim_verdict",
           "evaluate_claims", "findings_page", "forest_figure", "register", "thesis_values", "write_findings"]
