"""Findings: each of the thesis' claims put to a paired test, with a verdict computed by a written rule.

    outcomes = results.collect_outcomes(uri, profile="thesis")   # (variant, seed) -> metric -> correct per image
    table = findings.evaluate_claims(outcomes)                    # one row per comparison
    page = findings.findings_page(table)                          # Markdown: findings.md
"""

from findings.claims import CLAIMS, Claim, Comparison, CellRef, register
from findings.page import evaluate_claims, findings_page, thesis_values
from findings.verdict import ALPHA, EQUIVALENCE_MARGIN, RULE, claim_verdict

__all__ = ["ALPHA", "CLAIMS", "CellRef", "Claim", "Comparison", "EQUIVALENCE_MARGIN", "RULE", "claim_verdict",
           "evaluate_claims", "findings_page", "register", "thesis_values"]
