"""The lift from each group's moments (n, Σy, Σy², Σx, Σx², Σxy), as the database sums them,
is the lift from the per-member vectors: the same estimate, to the last bit."""

from __future__ import annotations

from fractions import Fraction

import pytest

from settlement.lift import (
    GroupMoments,
    cuped_lift,
    cuped_lift_of_moments,
    welch_lift,
    welch_lift_of_moments,
)

# pre-period X and period Y per member (the CUPED worked example of test_lift.py):
#   treatment (0, 3) (2, 6) (4, 7)      control (0, 1) (2, 2) (4, 6)
TREATMENT_Y, TREATMENT_X = [3, 6, 7], [0, 2, 4]
CONTROL_Y, CONTROL_X = [1, 2, 6], [0, 2, 4]
# treatment: n 3, Σy 3+6+7 = 16, Σy² 9+36+49 = 94, Σx 0+2+4 = 6, Σx² 0+4+16 = 20,
#            Σxy 0·3 + 2·6 + 4·7 = 40
TREATMENT = GroupMoments(n=3, sum_y=16, sum_y2=94, sum_x=6, sum_x2=20, sum_xy=40)
# control:   n 3, Σy 1+2+6 = 9, Σy² 1+4+36 = 41, Σx 6, Σx² 20, Σxy 0·1 + 2·2 + 4·6 = 28
CONTROL = GroupMoments(n=3, sum_y=9, sum_y2=41, sum_x=6, sum_x2=20, sum_xy=28)


def test_moments_of_the_vectors_worked_example() -> None:
    assert GroupMoments.of(TREATMENT_Y, TREATMENT_X) == TREATMENT
    assert GroupMoments.of(CONTROL_Y, CONTROL_X) == CONTROL
    pooled = TREATMENT + CONTROL
    assert pooled == GroupMoments(n=6, sum_y=25, sum_y2=135, sum_x=12, sum_x2=40, sum_xy=68)
    # about the pooled means (X 2, Y 25/6): Σ(x-2)(y-25/6) = 68 - 12·25/6 = 18,
    # Σ(x-2)² = 40 - 12²/6 = 16: theta 18/16 = 9/8
    assert (pooled.centered_xy, pooled.centered_xx) == (Fraction(18), Fraction(16))


def test_cuped_from_moments_is_cuped_from_vectors() -> None:
    from_moments = cuped_lift_of_moments(TREATMENT, CONTROL)
    assert from_moments == cuped_lift(TREATMENT_Y, CONTROL_Y, TREATMENT_X, CONTROL_X)
    # the numbers of the worked example: theta 9/8, lift 16/3 - 3 = 7/3, se 0.634648
    assert from_moments.cuped_theta == 9 / 8
    assert from_moments.absolute_lift == pytest.approx(7 / 3)
    assert from_moments.standard_error == pytest.approx(0.634648, abs=1e-6)
    assert from_moments.degrees_of_freedom == pytest.approx(3.574920, abs=1e-6)


def test_welch_from_moments_is_welch_from_vectors() -> None:
    # treatment 3, 6, 7: mean 16/3, variance (94 - 16²/3) / 2 = 13/3;
    # control 1, 2, 6: mean 3, variance (41 - 9²/3) / 2 = 7; se² = 13/9 + 7/3 = 34/9
    from_moments = welch_lift_of_moments(TREATMENT, CONTROL)
    assert from_moments == welch_lift(TREATMENT_Y, CONTROL_Y)
    assert from_moments.absolute_lift == pytest.approx(7 / 3)
    assert from_moments.standard_error == pytest.approx((34 / 9) ** 0.5)


def test_members_without_spend_count_in_n_and_add_nothing_to_the_sums() -> None:
    """A group of five of whom two spent: the moments of the two, with n = 5."""
    spent = GroupMoments.of([4_000, 1_500], [1_000, 0])
    everyone = GroupMoments(5, spent.sum_y, spent.sum_y2, spent.sum_x, spent.sum_x2, spent.sum_xy)
    assert everyone == GroupMoments.of([4_000, 1_500, 0, 0, 0], [1_000, 0, 0, 0, 0])
    control = GroupMoments.of([3_000, 1_000], [2_000, 1_500])
    assert cuped_lift_of_moments(everyone, control) == cuped_lift(
        [4_000, 1_500, 0, 0, 0], [3_000, 1_000], [1_000, 0, 0, 0, 0], [2_000, 1_500]
    )


def test_a_group_needs_two_members() -> None:
    with pytest.raises(ValueError, match="two members"):
        cuped_lift_of_moments(TREATMENT, GroupMoments(1, 5, 25, 0, 0, 0))
