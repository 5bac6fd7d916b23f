"""Lift statistics: the t quantile, Welch intervals and CUPED, with the numbers written out."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from infra.bench.lift import expected_spend_per_member, run_seeds, simulate
from settlement.lift import (
    METHOD_CUPED,
    METHOD_WELCH,
    cuped_lift,
    cuped_theta,
    round_amount,
    t_quantile,
    to_bps,
    welch_lift,
)


# -- the t distribution ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("p", "df", "expected"),
    [
        (0.975, 1, 12.706205),
        (0.975, 2, 4.302653),
        (0.975, 4, 2.776445),
        (0.975, 10, 2.228139),
        (0.975, 30, 2.042272),
        (0.975, 1000, 1.962339),
        (0.95, 5, 2.015048),
        (0.995, 20, 2.845340),
        (0.9, 3.5, 1.576577),  # fractional df, as Welch gives (Simpson on the density)
        (0.975, 1e9, 1.959964),  # the normal limit
    ],
)
def test_t_quantile_matches_tables(p, df, expected):
    assert t_quantile(p, df) == pytest.approx(expected, abs=1e-4)
    assert t_quantile(1 - p, df) == pytest.approx(-expected, abs=1e-4)


def test_t_quantile_is_symmetric_about_zero():
    assert t_quantile(0.5, 3) == 0.0


@pytest.mark.parametrize(("p", "df"), [(0.0, 3), (1.0, 3), (0.5, 0), (0.975, -1)])
def test_t_quantile_refuses_nonsense(p, df):
    with pytest.raises(ValueError):
        t_quantile(p, df)


# -- Welch: worked examples --------------------------------------------------------------------
def test_welch_equal_sizes_and_variances_worked_example():
    # treatment 3, 5, 7: mean 5, variance ((-2)^2 + 0 + 2^2) / 2 = 4
    # control   1, 3, 5: mean 3, variance 4
    # se^2 = 4/3 + 4/3 = 8/3, se = 1.632993; df = (8/3)^2 / ((4/3)^2/2 * 2) = 4
    # t(0.975, 4) = 2.776445; half width 2.776445 * 1.632993 = 4.533916
    est = welch_lift([3, 5, 7], [1, 3, 5])
    assert est.method == METHOD_WELCH
    assert (est.treatment_n, est.control_n) == (3, 3)
    assert est.absolute_lift == pytest.approx(2.0)
    assert est.standard_error == pytest.approx(1.632993, abs=1e-6)
    assert est.degrees_of_freedom == pytest.approx(4.0)
    assert est.absolute_ci_low == pytest.approx(2 - 4.533916, abs=1e-5)
    assert est.absolute_ci_high == pytest.approx(2 + 4.533916, abs=1e-5)
    # relative: 5/3 - 1 = 0.666667
    # delta-method se = sqrt((4/3)/3^2 + 5^2 (4/3)/3^4) = sqrt(0.148148 + 0.411523) = 0.748112
    assert est.relative_lift == pytest.approx(2 / 3)
    assert est.relative_ci_low == pytest.approx(2 / 3 - 2.776445 * 0.748112, abs=1e-5)
    assert est.relative_ci_high == pytest.approx(2 / 3 + 2.776445 * 0.748112, abs=1e-5)


def test_welch_unequal_sizes_and_variances_worked_example():
    # treatment 2, 4, 6, 8: mean 5, variance (9+1+1+9)/3 = 20/3, /n = 5/3
    # control   1, 2, 3:    mean 2, variance 1, /n = 1/3
    # se^2 = 2, se = 1.414214
    # df = 2^2 / ((5/3)^2/3 + (1/3)^2/2) = 4 / (25/27 + 1/18) = 216/53 = 4.075472
    # t(0.975, 4.075472) = 2.756285; half width 3.897975
    est = welch_lift([2, 4, 6, 8], [1, 2, 3])
    assert est.degrees_of_freedom == pytest.approx(216 / 53)
    assert est.standard_error == pytest.approx(math.sqrt(2))
    assert t_quantile(0.975, 216 / 53) == pytest.approx(2.756285, abs=1e-6)
    assert (est.absolute_ci_low, est.absolute_ci_high) == (
        pytest.approx(3 - 3.897975, abs=1e-5),
        pytest.approx(3 + 3.897975, abs=1e-5),
    )
    assert est.covers(0) and est.covers(6.8) and not est.covers(6.9)
    # t = 3 / sqrt(2) = 2.121320; two-sided p with 4.075472 df = 0.099913
    assert est.t_statistic == pytest.approx(2.121320, abs=1e-6)
    assert est.p_value == pytest.approx(0.099913, abs=1e-6)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_estimate_agrees_with_scipys_welch_test(seed):
    """t, df and p as scipy.stats.ttest_ind(equal_var=False) gives them on the same data, and
    the interval as its confidence_interval()."""
    import random

    rng = random.Random(seed)
    treatment = [rng.randrange(0, 9_000) for _ in range(40 + seed)]
    control = [rng.randrange(0, 6_000) for _ in range(25)]
    est = welch_lift(treatment, control)
    reference = stats.ttest_ind(treatment, control, equal_var=False)
    assert est.t_statistic == pytest.approx(float(reference.statistic), rel=1e-9)
    assert est.degrees_of_freedom == pytest.approx(float(reference.df), rel=1e-9)
    assert est.p_value == pytest.approx(float(reference.pvalue), rel=1e-9)
    interval = reference.confidence_interval(0.95)
    assert est.absolute_ci_low == pytest.approx(float(interval.low), rel=1e-9)
    assert est.absolute_ci_high == pytest.approx(float(interval.high), rel=1e-9)


def test_no_variance_at_all_gives_a_point_interval():
    est = welch_lift([5, 5, 5], [2, 2])
    assert (est.absolute_ci_low, est.absolute_lift, est.absolute_ci_high) == (3, 3, 3)
    assert est.degrees_of_freedom == 3  # pooled n_t + n_c - 2
    assert est.t_statistic is est.p_value is None  # no variance: no test


def test_relative_lift_is_undefined_without_control_spend():
    est = welch_lift([0, 10, 20], [0, 0, 0])
    assert est.absolute_lift == 10
    assert est.relative_lift is est.relative_ci_low is est.relative_ci_high is None


def test_each_group_needs_two_members():
    with pytest.raises(ValueError, match="two members"):
        welch_lift([1, 2, 3], [4])


# -- CUPED: worked example ---------------------------------------------------------------------
def test_cuped_worked_example():
    # pre-period X and period Y:   treatment (0,3) (2,6) (4,7)   control (0,1) (2,2) (4,6)
    # pooled: mean X = 2, mean Y = 25/6
    # cov sum = sum (x-2)(y-25/6) = 18, var sum = sum (x-2)^2 = 16, theta = 18/16 = 9/8
    # Y_adj = Y - 9/8 (X - 2):  treatment 21/4, 6, 19/4   control 13/4, 2, 15/4
    # treatment mean 16/3, variance 57/144; control mean 3, variance 13/16
    # lift 16/3 - 3 = 7/3; se^2 = 57/432 + 13/48 = 0.402778, se = 0.634648
    # df = se^4 / ((57/432)^2/2 + (13/48)^2/2) = 3.574920; t(0.975, 3.574920) = 2.911619
    est = cuped_lift([3, 6, 7], [1, 2, 6], [0, 2, 4], [0, 2, 4])
    assert est.method == METHOD_CUPED
    assert est.cuped_theta == pytest.approx(9 / 8)
    assert est.treatment_mean == pytest.approx(16 / 3)
    assert est.control_mean == pytest.approx(3.0)
    assert est.absolute_lift == pytest.approx(7 / 3)
    assert est.standard_error == pytest.approx(0.634648, abs=1e-6)
    assert est.degrees_of_freedom == pytest.approx(3.574920, abs=1e-6)
    assert t_quantile(0.975, 3.574920) == pytest.approx(2.911619, abs=1e-6)
    assert est.absolute_ci_low == pytest.approx(7 / 3 - 2.911619 * 0.634648, abs=1e-5)
    assert est.absolute_ci_high == pytest.approx(7 / 3 + 2.911619 * 0.634648, abs=1e-5)
    # the same data without CUPED: same lift, a much wider interval (se 1.943651)
    plain = welch_lift([3, 6, 7], [1, 2, 6])
    assert plain.absolute_lift == pytest.approx(7 / 3)
    assert plain.standard_error == pytest.approx(1.943651, abs=1e-6)
    assert est.absolute_ci_width < plain.absolute_ci_width


def test_cuped_theta_is_zero_when_the_covariate_does_not_vary():
    assert cuped_theta([1, 2, 3], [7, 7, 7]) == 0.0
    est = cuped_lift([3, 5, 7], [1, 3, 5], [0, 0, 0], [0, 0, 0])
    plain = welch_lift([3, 5, 7], [1, 3, 5])
    assert est.absolute_ci_low == pytest.approx(plain.absolute_ci_low)


def test_cuped_needs_a_covariate_per_outcome():
    with pytest.raises(ValueError):
        cuped_lift([1, 2], [3, 4], [1], [3, 4])


def test_rounding_statistics_for_display():
    assert round_amount(330.5) == 330  # ties to even
    assert round_amount(331.5) == 332
    assert round_amount(-12.6) == -13
    assert to_bps(0.12) == 1200
    assert to_bps(-0.00005) == 0
    with pytest.raises(ValueError):
        round_amount(math.nan)


# -- the simulation, one seed ------------------------------------------------------------------
def test_simulated_population_is_realistic():
    sim = simulate(7, members=5_000, effect_bps=1_200, holdout_bps=2_000)
    spend = sim.treatment_spend + sim.control_spend
    pre = sim.treatment_pre_spend + sim.control_pre_spend
    assert len(spend) == 5_000
    assert 800 <= len(sim.control_spend) <= 1_200  # about 20% held out by the offer hash
    assert sum(1 for s in spend if s == 0) > 2_500  # most members never buy at the brand
    assert max(spend) > 20 * expected_spend_per_member()  # a long right tail
    assert cuped_theta(spend, pre) > 0.3  # pre-period spend predicts period spend
    assert all(isinstance(s, int) for s in spend + pre)


def test_one_seed_covers_the_planted_effect_and_cuped_is_narrower():
    planted, null = run_seeds(seeds=1, members=5_000, effect_bps=1_200, holdout_bps=2_000)
    assert planted.true_lift == pytest.approx(0.12 * expected_spend_per_member())
    assert (planted.cuped_covered, planted.plain_covered) == (1, 1)
    assert planted.cuped_width < planted.plain_width
    assert null.true_lift == 0
    assert (null.cuped_covered, null.plain_covered) == (1, 1)
    assert null.cuped_width < null.plain_width


def test_the_bench_command_prints_its_figures(capsys):
    from service.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "lift", "--seeds", "2", "--members", "2000"])
    out = capsys.readouterr().out
    assert exc.value.code in (0, 1)  # two seeds decide nothing; the figures are the point
    assert "95% CI covers the true lift" in out
    assert "95% CI covers zero" in out
    assert "mean CI width" in out
