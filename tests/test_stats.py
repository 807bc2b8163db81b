"""The statistics against values computed by hand (formulas in core/stats.py docstrings)."""

import math

import pytest

from core.stats import _t_cdf, mean_interval, t_quantile, two_proportion_test, wilson


def test_wilson_interval_by_hand() -> None:
    # p = 0.8, z² = 3.8415: centre (0.8 + 0.19207) / 1.38415 = 0.71681,
    # half 1.95996 · sqrt(0.016 + 0.0096) / 1.38415 = 0.22665
    p = wilson(8, 10)
    assert p.share == 0.8
    assert p.low == pytest.approx(0.4902, abs=1e-4)
    assert p.high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_stays_inside_zero_and_one_at_the_edges() -> None:
    none = wilson(0, 5)
    assert none.low == 0.0 and none.high == pytest.approx(0.4345, abs=1e-4)
    every = wilson(5, 5)
    assert every.high == 1.0 and every.low == pytest.approx(0.5655, abs=1e-4)


def test_wilson_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson(3, 0)
    with pytest.raises(ValueError):
        wilson(6, 5)


def test_student_t_quantiles_match_the_table() -> None:
    assert t_quantile(0.975, 4) == pytest.approx(2.7764, abs=1e-4)
    assert t_quantile(0.975, 9) == pytest.approx(2.2622, abs=1e-4)
    assert t_quantile(0.975, 29) == pytest.approx(2.0452, abs=1e-4)
    assert t_quantile(0.975, 100_000) == pytest.approx(1.9600, abs=1e-4)


@pytest.mark.parametrize("df", [5, 6, 29, 30, 99, 100, 101, 250, 1000, 40_000])
def test_quantiles_found_without_bisection_agree_with_the_exact_cdf(df: int) -> None:
    # From 5 on Newton's method finds the quantile, from 100 an expansion gives it.
    assert _t_cdf(t_quantile(0.975, df), df) == pytest.approx(0.975, abs=1e-10)
    assert _t_cdf(t_quantile(0.025, df), df) == pytest.approx(0.025, abs=1e-10)


def test_mean_effort_interval_by_hand() -> None:
    # efforts 5, 6, 7, 4, 6: mean 5.6, s² = 5.2 / 4 = 1.3, half = 2.7764 · sqrt(1.3 / 5) = 1.4157
    efforts = [5, 6, 7, 4, 6]
    mean = mean_interval(len(efforts), sum(efforts), sum(e * e for e in efforts))
    assert mean.mean == pytest.approx(5.6)
    assert mean.low == pytest.approx(4.1843, abs=1e-4)
    assert mean.high == pytest.approx(7.0157, abs=1e-4)


def test_mean_of_identical_answers_has_no_spread() -> None:
    mean = mean_interval(6, 36, 216)
    assert (mean.low, mean.mean, mean.high) == (6.0, 6.0, 6.0)


def test_two_proportion_test_by_hand() -> None:
    # 30/40 against 20/40: pooled 0.625, se = sqrt(0.625 · 0.375 · 2/40) = 0.10825,
    # z = 0.25 / 0.10825 = 2.3094, two-sided p = 0.0209
    change = two_proportion_test(30, 40, 20, 40)
    assert change.delta == pytest.approx(0.25)
    assert change.p_value == pytest.approx(0.0209, abs=1e-4)
    assert change.meaningful


def test_a_small_difference_is_within_noise() -> None:
    # 7/10 against 3/10: pooled 0.5, se = 0.2236, z = 1.789, p = 0.0736
    change = two_proportion_test(7, 10, 3, 10)
    assert change.p_value == pytest.approx(0.0736, abs=1e-4)
    assert not change.meaningful


def test_identical_all_satisfied_periods_are_no_change() -> None:
    change = two_proportion_test(10, 10, 8, 8)
    assert change.delta == 0 and change.p_value == 1.0 and not math.isnan(change.p_value)
