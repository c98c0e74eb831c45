"""Paired statistics: exact McNemar against the binomial computation, Holm on a known vector."""

import math

import numpy as np
import pytest

from evaluation.paired import compare, holm, mcnemar_exact


def binomial_two_sided(b: int, c: int) -> float:
    """The definition, written out: P(X <= min(b, c)) doubled, X ~ Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


@pytest.mark.parametrize("b, c", [(0, 0), (5, 5), (0, 10), (10, 0), (3, 12), (40, 25), (1, 0)])
def test_mcnemar_equals_the_exact_binomial_computation(b, c):
    assert mcnemar_exact(b, c) == pytest.approx(binomial_two_sided(b, c), rel=1e-12)


def test_compare_counts_discordant_images_of_hand_made_tables():
    a = np.array([1, 1, 1, 0, 0, 1, 0, 1], bool)
    b = np.array([1, 0, 0, 0, 1, 1, 0, 0], bool)
    result = compare(a, b)
    assert (result.n, result.b, result.c) == (8, 3, 1)
    assert result.difference == pytest.approx((1 - 3) / 8)
    assert result.p_value == pytest.approx(binomial_two_sided(3, 1))
    agree = compare(a, a)  # all agree: no discordant image, no evidence of a difference
    assert (agree.b, agree.c, agree.p_value, agree.difference) == (0, 0, 1.0, 0.0)
    disagree = compare(np.ones(12, bool), np.zeros(12, bool))  # all disagree
    assert disagree.p_value == pytest.approx(2 / 2**12) and disagree.difference == -1.0
    with pytest.raises(ValueError, match="Received: 8 and 7 outcomes"):
        compare(a, b[:7])


def test_holm_on_a_known_vector():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(holm([0.5, 0.9]), [1.0, 1.0])
    with pytest.raises(ValueError, match="Received"):
        holm([0.2, 1.5])
