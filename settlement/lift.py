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
that show money round the float results with `round_amount`. Both estimates need of each
group only its size and six sums (`GroupMoments`): the attribution report has the database
compute those over the whole population, and the functions on per-member vectors compute
their moments first, so both ways give the same estimate to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

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


# -- moments -------------------------------------------------------------------------------
Exact = int | Fraction  # sums kept exact: amounts are ints, and a float converts exactly


def _exact(value: float | Fraction) -> Exact:
    return value if isinstance(value, int | Fraction) else Fraction(value)


@dataclass(frozen=True, slots=True)
class GroupMoments:
    """What a Welch or CUPED estimate needs of one group: its size n and the sums of the
    outcome y (Σy, Σy²), of the covariate x (Σx, Σx²) and of their product (Σxy).

    The sums are exact (ints for amounts), so a database can compute them for a million
    members and send six numbers; members with no spend add nothing to a sum but count in n.
    Without a covariate the x sums are zero.
    """

    n: int
    sum_y: Exact
    sum_y2: Exact
    sum_x: Exact = 0
    sum_x2: Exact = 0
    sum_xy: Exact = 0

    @classmethod
    def of(
        cls, outcomes: Sequence[float], covariates: Sequence[float] | None = None
    ) -> GroupMoments:
        """The moments of per-member vectors (`covariates[i]` belongs to `outcomes[i]`)."""
        ys = [_exact(v) for v in outcomes]
        xs = [_exact(v) for v in covariates] if covariates is not None else [0] * len(ys)
        if len(xs) != len(ys):
            raise ValueError("outcomes and covariates differ in length")
        return cls(
            n=len(ys),
            sum_y=sum(ys),
            sum_y2=sum(y * y for y in ys),
            sum_x=sum(xs),
            sum_x2=sum(x * x for x in xs),
            sum_xy=sum(x * y for x, y in zip(xs, ys, strict=True)),
        )

    def __add__(self, other: GroupMoments) -> GroupMoments:
        """Both groups pooled."""
        return GroupMoments(
            self.n + other.n,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_xy + other.sum_xy,
        )

    # Sums of squares and products about the group's means, exact.
    @property
    def centered_yy(self) -> Fraction:
        return Fraction(self.sum_y2) - Fraction(self.sum_y) ** 2 / self.n

    @property
    def centered_xx(self) -> Fraction:
        return Fraction(self.sum_x2) - Fraction(self.sum_x) ** 2 / self.n

    @property
    def centered_xy(self) -> Fraction:
        return Fraction(self.sum_xy) - Fraction(self.sum_x) * Fraction(self.sum_y) / self.n


@dataclass(frozen=True, slots=True)
class _GroupStats:
    n: int
    mean: float
    var: float  # sample variance (n - 1)


def _moments_theta(pooled: GroupMoments) -> Fraction:
    """theta = cov(Y, X) / var(X) over the pooled sample, exact; 0 when X does not vary."""
    if pooled.n < 2:
        return Fraction(0)
    var = pooled.centered_xx
    return pooled.centered_xy / var if var > 0 else Fraction(0)


def _adjusted(group: GroupMoments, theta: Fraction, mean_x: Fraction) -> _GroupStats:
    """Mean and variance of Y - theta (X - mean_x) over the group, from its moments."""
    if group.n < 2:
        raise ValueError("each group needs at least two members")
    mean = (Fraction(group.sum_y) - theta * (Fraction(group.sum_x) - group.n * mean_x)) / group.n
    squares = group.centered_yy - 2 * theta * group.centered_xy + theta**2 * group.centered_xx
    return _GroupStats(group.n, float(mean), float(squares / (group.n - 1)))


def cuped_theta(outcomes: Sequence[float], covariates: Sequence[float]) -> float:
    """theta = cov(Y, X) / var(X) over the pooled sample; 0 when X does not vary."""
    if len(outcomes) != len(covariates):
        raise ValueError("outcomes and covariates differ in length")
    return float(_moments_theta(GroupMoments.of(outcomes, covariates)))


def _estimate(
    t: _GroupStats, c: _GroupStats, *, method: str, confidence: float, theta: float | None
) -> LiftEstimate:
    if t.n < 2 or c.n < 2:
        raise ValueError("each group needs at least two members")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be in (0, 1)")
    se_t2, se_c2 = t.var / t.n, c.var / c.n
    se = math.sqrt(se_t2 + se_c2)
    diff = t.mean - c.mean
    t_statistic = p_value = None
    if se_t2 + se_c2 == 0.0:
        # Neither group varies: no meaningful df; the interval is a point whatever the
        # quantile, so take the pooled df.
        df = float(t.n + c.n - 2)
    else:
        # Welch's test from the groups' summaries; scipy gives t and p but not the
        # Welch-Satterthwaite degrees of freedom the interval needs.
        welch = stats.ttest_ind_from_stats(
            t.mean, math.sqrt(t.var), t.n, c.mean, math.sqrt(c.var), c.n, equal_var=False
        )
        t_statistic, p_value = float(welch.statistic), float(welch.pvalue)
        df = (se_t2 + se_c2) ** 2 / (se_t2**2 / (t.n - 1) + se_c2**2 / (c.n - 1))
    q = t_quantile(0.5 + confidence / 2.0, df)
    rel = rel_low = rel_high = None
    if c.mean > 0:
        rel = t.mean / c.mean - 1.0
        # Delta method for the ratio of two independent means.
        rel_se = math.sqrt(se_t2 / c.mean**2 + t.mean**2 * se_c2 / c.mean**4)
        rel_low, rel_high = rel - q * rel_se, rel + q * rel_se
    return LiftEstimate(
        method=method,
        confidence=confidence,
        treatment_n=t.n,
        control_n=c.n,
        treatment_mean=t.mean,
        control_mean=c.mean,
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


def welch_lift_of_moments(
    treatment: GroupMoments, control: GroupMoments, *, confidence: float = CONFIDENCE
) -> LiftEstimate:
    """Difference in means with a Welch interval, no covariate adjustment, from each group's
    n, Σy and Σy² (the x sums are ignored)."""
    method = (
        METHOD_WELCH
        if confidence == CONFIDENCE
        else f"difference in means, Welch {confidence:.0%} CI"
    )
    none = Fraction(0)
    return _estimate(
        _adjusted(treatment, none, none),
        _adjusted(control, none, none),
        method=method,
        confidence=confidence,
        theta=None,
    )


def cuped_lift_of_moments(
    treatment: GroupMoments, control: GroupMoments, *, confidence: float = CONFIDENCE
) -> LiftEstimate:
    """Difference in CUPED-adjusted means with a Welch interval, from each group's moments.

    theta is pooled over both groups; each member's Y - theta (X - pooled mean X) has, per
    group, the mean and the variance that the group's sums give exactly."""
    pooled = treatment + control
    theta = _moments_theta(pooled)
    mean_x = Fraction(pooled.sum_x) / pooled.n if pooled.n else Fraction(0)
    method = METHOD_CUPED if confidence == CONFIDENCE else f"{METHOD_CUPED} ({confidence:.0%})"
    return _estimate(
        _adjusted(treatment, theta, mean_x),
        _adjusted(control, theta, mean_x),
        method=method,
        confidence=confidence,
        theta=float(theta),
    )


# -- per-member vectors --------------------------------------------------------------------
def welch_lift(
    treatment: Sequence[float], control: Sequence[float], *, confidence: float = CONFIDENCE
) -> LiftEstimate:
    """Difference in means with a Welch interval, no covariate adjustment."""
    return welch_lift_of_moments(
        GroupMoments.of(treatment), GroupMoments.of(control), confidence=confidence
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
    `treatment[i]` (likewise for control). theta is pooled over both groups. The same
    estimate as `cuped_lift_of_moments` on the vectors' moments: it is computed that way.
    """
    if len(treatment) != len(treatment_pre) or len(control) != len(control_pre):
        raise ValueError("each outcome needs its pre-period covariate")
    return cuped_lift_of_moments(
        GroupMoments.of(treatment, treatment_pre),
        GroupMoments.of(control, control_pre),
        confidence=confidence,
    )


def round_amount(value: float) -> int:
    """A statistic in minor units shown as money: the nearest int, ties to even."""
    if not math.isfinite(value):
        raise ValueError("not a finite amount")
    return round(value)


def to_bps(ratio: float) -> int:
    """A ratio (0.12) as basis points (1200), ties to even."""
    return round_amount(ratio * 10_000)
