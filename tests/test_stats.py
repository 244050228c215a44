"""Known answers for the paired statistics: sign-flip test, bootstrap, Holm, probability of improvement."""

import numpy as np
import pytest
from scipy.stats import permutation_test

from peftser.benchmark.report import stats

PROTOCOL = (5, 6, 5, 3)  # trainings per corpus: IEMOCAP, MSP-Improv, CREMA-D, MSP-Podcast (19 units)


def split(values, sizes):
    """Cut a flat array into strata of the given sizes."""
    return np.split(np.asarray(values, dtype=float), np.cumsum(sizes)[:-1])


def scipy_p(strata) -> float:
    """scipy's exact paired permutation test of the same corpus-balanced mean (swapping within each pair)."""
    weights = np.concatenate([np.full(len(s), 1 / (len(strata) * len(s))) for s in strata])
    method = np.concatenate(strata)  # method - baseline = d with a baseline of zeros
    result = permutation_test(
        (method, np.zeros_like(method)), lambda x, y, axis: ((x - y) * weights).sum(axis=axis),
        permutation_type="samples", n_resamples=np.inf, vectorized=True, alternative="two-sided",
    )
    return float(result.pvalue)


@pytest.mark.parametrize("seed,shift", [(0, 0.0), (1, 0.4), (2, 0.9), (3, -0.6)])
def test_sign_flip_p_equals_scipy_permutation_test(seed, shift):
    strata = split(np.random.default_rng(seed).normal(shift, 1.0, size=12), (4, 3, 3, 2))
    p, exact = stats.sign_flip_test(strata)
    assert exact
    assert p == pytest.approx(scipy_p(strata), rel=1e-12)


def test_sign_flip_p_spans_small_and_large_values():
    # The parametrised cases above are not all trivial: one is clearly significant, one clearly not.
    ps = [stats.sign_flip_test(split(np.random.default_rng(s).normal(m, 1.0, size=12), (4, 3, 3, 2)))[0]
          for s, m in [(0, 0.0), (2, 0.9)]]
    assert ps[0] > 0.2 and ps[1] < 0.01


def test_constant_positive_shift_on_19_units():
    strata = split(np.full(19, 1.5), PROTOCOL)
    result = stats.paired(strata)
    assert result.exact and result.units == 19 and result.strata == 4
    assert result.p == 2 / 2**19  # only all-plus and all-minus reach the observed mean
    assert result.effect == pytest.approx(1.5)
    assert result.ci[0] > 0  # the interval excludes 0
    assert result.p_improve == 1.0 and result.p_improve_ci == (1.0, 1.0)


def test_symmetric_noise_interval_covers_zero():
    # Noise mirrored within each corpus (x and -x, a 0 for odd sizes): symmetric about 0 by construction.
    noise = np.random.default_rng(7).normal(0.0, 3.0, size=len(PROTOCOL) * 3)
    strata = [np.concatenate([noise[3 * i: 3 * i + n // 2], -noise[3 * i: 3 * i + n // 2], [0.0] * (n % 2)])
              for i, n in enumerate(PROTOCOL)]
    assert [len(s) for s in strata] == list(PROTOCOL)
    result = stats.paired(strata)
    assert result.effect == pytest.approx(0.0, abs=1e-12)
    assert result.ci[0] < -0.5 and result.ci[1] > 0.5  # covers 0 with room: the noise is wide
    assert result.p > 0.9 and result.p_improve == pytest.approx(0.5)


def test_under_the_null_the_test_and_interval_keep_their_levels():
    # 300 noise-only comparisons of the protocol's shape: the exact test rejects about 5 % of them
    # (it is exact), and the 95 % interval covers 0 in about 91 % (measured over 1,000: 0.913; the
    # percentile bootstrap of 3 to 6 units per corpus runs under its level, 0.878 without rescaling).
    rng = np.random.default_rng(11)
    rejected = covered = 0
    for _ in range(300):
        strata = split(rng.normal(0.0, 1.0, size=19), PROTOCOL)
        rejected += stats.sign_flip_test(strata)[0] < 0.05
        low, high = stats.bootstrap_interval(strata, resamples=2000)
        covered += low < 0 < high
    assert rejected / 300 < 0.09  # 0.05 + 3 standard errors
    assert covered / 300 > 0.88


def test_monte_carlo_above_the_exact_limit_agrees_with_the_exact_count(monkeypatch):
    strata = split(np.random.default_rng(5).normal(0.3, 1.0, size=22), (6, 6, 5, 5))
    p_mc, exact = stats.sign_flip_test(strata)
    assert not exact
    monkeypatch.setattr(stats, "EXACT_MAX_UNITS", 22)
    p_exact, exact = stats.sign_flip_test(strata)
    assert exact
    assert p_mc == pytest.approx(p_exact, abs=4 * np.sqrt(p_exact * (1 - p_exact) / stats.MONTE_CARLO_PATTERNS))


def test_holm_matches_a_hand_computed_example():
    # sorted: 0.005 x4 = 0.02; 0.01 x3 = 0.03; 0.03 x2 = 0.06; 0.04 x1 = 0.04 -> raised to 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # Untested comparisons stay None and do not count; adjusted values are capped at 1.
    assert stats.holm([0.01, None, 0.04]) == [pytest.approx(0.02), None, pytest.approx(0.04)]
    assert stats.holm([0.3, 0.6]) == [0.6, 0.6]
    assert stats.holm([0.7, 0.9]) == [1.0, 1.0]


def test_bootstrap_is_deterministic_under_the_fixed_seed():
    strata = split(np.random.default_rng(3).normal(0.5, 2.0, size=19), PROTOCOL)
    assert stats.paired(strata) == stats.paired(strata)
    assert stats.bootstrap_interval(strata, seed=1) != stats.bootstrap_interval(strata)  # the seed matters


def test_bootstrap_resamples_within_corpora():
    # Two corpora, constant within each: every stratified resample keeps both corpus means, so the
    # balanced mean never moves; resampling the pooled units would spread it.
    strata = [np.full(5, 4.0), np.full(3, -2.0)]
    assert stats.bootstrap_interval(strata) == pytest.approx((1.0, 1.0))
    assert stats.balanced_mean(strata) == 1.0  # corpora weigh equally (the pooled mean would be 1.75)


def test_ties_count_half_and_direction_follows_the_metric():
    d = [2.0, -1.0, 0.0, 3e-15]  # the last is float noise between equal scores: a tie
    assert stats.improvement_scores(d).tolist() == [1.0, 0.0, 0.5, 0.5]
    assert stats.improvement_scores(d, lower_is_better=True).tolist() == [0.0, 1.0, 0.5, 0.5]
    fairer = stats.paired([[-1.0, -2.0, -0.5]], lower_is_better=True)  # lower fairness gap: better
    assert fairer.p_improve == 1.0 and fairer.effect < 0


def test_float_noise_is_not_an_effect():
    # 19 differences of 4e-15 (30.000000000000004 - 30.0) would otherwise be a "significant" shift.
    result = stats.paired(split(np.full(19, 4e-15), PROTOCOL))
    assert result.effect == 0.0 and result.p == 1.0 and result.p_improve == 0.5


def test_smallest_attainable_p():
    assert [stats.smallest_p(n) for n in (1, 3, 5, 6, 19)] == [1.0, 0.25, 0.0625, 0.03125, 2 / 2**19]
    assert stats.sign_flip_test([np.ones(5)])[0] == 0.0625


def test_no_units_is_an_error():
    with pytest.raises(ValueError, match="no paired units"):
        stats.paired([[], []])
