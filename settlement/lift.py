"""Incremental lift of an offer: treatment (offered) against a holdout control group.

Pure statistics, no database. The estimate is a difference in means with a Welch interval
(unequal variances; Welch-Satterthwaite degrees of freedom, the Student t quantile and the
test's t and p from scipy.stats), optionally
CUPED-adjusted: each member's outcome Y is corrected by a pre-period covariate X (their spend at
the brand in an equally long period before the offer started) with one pooled
theta = cov(Y, X) / var(X), Y_adj = Y - theta (X - mean X). Assignment is random with respect
to X, so the adjustment keeps the estimate unbiased and narrows the interval by the share of
variance X explains.

Inputs are spend amounts in minor units (ints); floats appear only in the statistics. Callers
that show money round the float results with `round_amount`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

METHOD_WELCH = "difference in means, Welch 95% CI"
METHOD_CUPED = "difference in means, Welch 95% CI, CUPED-adjusted on pre-period spend"
CONFIDENCE = 0.95


# -- the Student t distribution ------------------------------------------------------------
def t_quantile(p: float, df: float) -> float:
    """The `p` quantile of Student's t with `df` (possibly fractional) degrees of freedom
    (t(0.975, 10) = 2.228139), from scipy."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    if df <= 0:
        raise ValueError("degrees of freedom must be positive")
    return float(stats.t.ppf(p, df))


# -- estimates -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LiftEstimate:
    """Lift of treatment over control per member: absolute (minor units) and relative."""

    method: str
    confidence: float
    treatment_n: int
    control_n: int
    treatment_mean: float  # CUPED-adjusted when cuped_theta is not None
    control_mean: float
    absolute_lift: float  # treatment mean - control mean, minor units per member
    absolute_ci_low: float
    absolute_ci_high: float
    standard_error: float
    degrees_of_freedom: float
    # treatment mean / control mean - 1, with a delta-method interval; None when the control
    # mean is not positive (a ratio to nothing means nothing)
    relative_lift: float | None
    relative_ci_low: float | None
    relative_ci_high: float | None
    cuped_theta: float | None = None
    # Welch's t test of "no difference" (scipy's ttest_ind, equal_var=False); None when
    # neither group varies at all (the interval is then a point and t is undefined)
    t_statistic: float | None = None
    p_value: float | None = None

    @property
    def absolute_ci_width(self) -> float:
        return self.absolute_ci_high - self.absolute_ci_low

    def covers(self, value: float) -> bool:
        """Whether the absolute interval contains `value` (ends included)."""
        return self.absolute_ci_low <= value <= self.absolute_ci_high


def _mean_var(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample variance (n - 1), two-pass for accuracy."""
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return mean, var


def cuped_theta(outcomes: Sequence[float], covariates: Sequence[float]) -> float:
    """theta = cov(Y, X) / var(X) over the pooled sample; 0 when X does not vary."""
    if len(outcomes) != len(covariates):
        raise ValueError("outcomes and covariates differ in length")
    n = len(outcomes)
    if n < 2:
        return 0.0
    mean_y = math.fsum(outcomes) / n
    mean_x = math.fsum(covariates) / n
    cov = math.fsum((y - mean_y) * (x - mean_x) for y, x in zip(outcomes, covariates, strict=True))
    var = math.fsum((x - mean_x) ** 2 for x in covariates)
    return cov / var if var > 0 else 0.0


def _estimate(
    treatment: Sequence[float],
    control: Sequence[float],
    *,
    method: str,
    confidence: float,
    theta: float | None,
) -> LiftEstimate:
    n_t, n_c = len(treatment), len(control)
    if n_t < 2 or n_c < 2:
        raise ValueError("each group needs at least two members")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    mean_t, var_t = _mean_var(treatment)
    mean_c, var_c = _mean_var(control)
    se_t2, se_c2 = var_t / n_t, var_c / n_c
    se = math.sqrt(se_t2 + se_c2)
    t_statistic = p_value = None
    if se_t2 + se_c2 == 0.0:
        # Neither group varies: scipy warns and gives no meaningful df; the interval is a
        # point whatever the quantile, so take the pooled df.
        df = float(n_t + n_c - 2)
    else:
        welch = stats.ttest_ind(treatment, control, equal_var=False)
        df = float(welch.df)
        t_statistic, p_value = float(welch.statistic), float(welch.pvalue)
    q = t_quantile(0.5 + confidence / 2.0, df)
    diff = mean_t - mean_c
    rel = rel_low = rel_high = None
    if mean_c > 0:
        rel = mean_t / mean_c - 1.0
        # Delta method for the ratio of two independent means.
        rel_se = math.sqrt(se_t2 / mean_c**2 + mean_t**2 * se_c2 / mean_c**4)
        rel_low, rel_high = rel - q * rel_se, rel + q * rel_se
    return LiftEstimate(
        method=method,
        confidence=confidence,
        treatment_n=n_t,
        control_n=n_c,
        treatment_mean=mean_t,
        control_mean=mean_c,
        absolute_lift=diff,
        absolute_ci_low=diff - q * se,
        absolute_ci_high=diff + q * se,
        standard_error=se,
        degrees_of_freedom=df,
        relative_lift=rel,
        relative_ci_low=rel_low,
        relative_ci_high=rel_high,
        cuped_theta=theta,
        t_statistic=t_statistic,
        p_value=p_value,
    )


def welch_lift(
    treatment: Sequence[float], control: Sequence[float], *, confidence: float = CONFIDENCE
) -> LiftEstimate:
    """Difference in means with a Welch interval, no covariate adjustment."""
    method = (
        METHOD_WELCH
        if confidence == CONFIDENCE
        else f"difference in means, Welch {confidence:.0%} CI"
    )
    return _estimate(
        [float(v) for v in treatment],
        [float(v) for v in control],
        method=method,
        confidence=confidence,
        theta=None,
    )


def cuped_lift(
    treatment: Sequence[float],
    control: Sequence[float],
    treatment_pre: Sequence[float],
    control_pre: Sequence[float],
    *,
    confidence: float = CONFIDENCE,
) -> LiftEstimate:
    """Difference in CUPED-adjusted means with a Welch interval.

    `treatment_pre[i]` is the pre-period covariate of the member whose outcome is
    `treatment[i]` (likewise for control). theta is pooled over both groups.
    """
    if len(treatment) != len(treatment_pre) or len(control) != len(control_pre):
        raise ValueError("each outcome needs its pre-period covariate")
    ys = [float(v) for v in (*treatment, *control)]
    xs = [float(v) for v in (*treatment_pre, *control_pre)]
    theta = cuped_theta(ys, xs)
    mean_x = math.fsum(xs) / len(xs) if xs else 0.0
    adjusted = [y - theta * (x - mean_x) for y, x in zip(ys, xs, strict=True)]
    n_t = len(treatment)
    method = METHOD_CUPED if confidence == CONFIDENCE else f"{METHOD_CUPED} ({confidence:.0%})"
    return _estimate(
        adjusted[:n_t], adjusted[n_t:], method=method, confidence=confidence, theta=theta
    )


def round_amount(value: float) -> int:
    """A statistic in minor units shown as money: the nearest int, ties to even."""
    if not math.isfinite(value):
        raise ValueError("not a finite amount")
    return round(value)


def to_bps(ratio: float) -> int:
    """A ratio (0.12) as basis points (1200), ties to even."""
    return round_amount(ratio * 10_000)
