"""`clo bench lift`: does the lift interval cover a planted effect, and zero when there is none?

Each seed simulates one offer with a holdout over a population of members, split by the same
hash the matcher uses (`matching.offers.in_holdout`). Spend at the brand is realistic in
shape: most members never buy there, buyers differ widely in how often they come and how much
they spend (gamma visit rates, log-normal tickets), and each member's pre-period spend is
correlated with their in-period spend through those same traits. Treatment members spend
`effect_bps` more on every visit, so the true lift per member is known exactly from the model:
effect x E[spend] = effect x CUSTOMER_SHARE x VISITS_MEAN x E[ticket].

Printed: for the planted effect and for no effect, how many seeds' 95% intervals cover the
true lift, and the mean interval width with CUPED and without.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from rich.table import Table

from matching.money import round_half_even
from matching.offers import in_holdout
from service.progress import console, tracked
from settlement.lift import LiftEstimate, cuped_lift, welch_lift

CUSTOMER_SHARE = 0.40  # members who buy at the brand at all; the rest spend zero
VISITS_SHAPE = 1.5  # gamma shape of a buyer's visit rate: a few regulars, many occasionals
VISITS_MEAN = 2.0  # visits per period, on average over buyers
RATE_DRIFT_SIGMA = 0.5  # a buyer's rate changes between pre-period and period (log-normal)
TICKET_MEDIAN = 2_500  # minor units; a buyer's typical ticket
TICKET_SIGMA = 0.8
BASKET_SIGMA = 0.35  # one visit's amount around the buyer's typical ticket
COVERAGE_NEEDED = 90  # per 100 seeds
NULL_SEED_OFFSET = 1_000_000


def expected_spend_per_member() -> float:
    """E[in-period spend] of a member without the offer, from the model (minor units)."""
    mean_ticket = TICKET_MEDIAN * math.exp(TICKET_SIGMA**2 / 2)
    return CUSTOMER_SHARE * VISITS_MEAN * mean_ticket  # drift and basket noise have mean 1


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method; fine for the small means of visits per period."""
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _lognormal_mean_one(rng: random.Random, sigma: float) -> float:
    return rng.lognormvariate(-(sigma**2) / 2, sigma)


def _visits(rng: random.Random, ticket: float, rate: float) -> list[int]:
    """One period's visit amounts (minor units) of a buyer with this ticket and visit rate."""
    return [
        round(ticket * _lognormal_mean_one(rng, BASKET_SIGMA)) for _ in range(_poisson(rng, rate))
    ]


@dataclass(frozen=True, slots=True)
class SimulatedOffer:
    treatment_spend: list[int]
    control_spend: list[int]
    treatment_pre_spend: list[int]
    control_pre_spend: list[int]
    true_lift: float  # per member, minor units

    def cuped(self) -> LiftEstimate:
        return cuped_lift(
            self.treatment_spend,
            self.control_spend,
            self.treatment_pre_spend,
            self.control_pre_spend,
        )

    def plain(self) -> LiftEstimate:
        return welch_lift(self.treatment_spend, self.control_spend)


def simulate(
    seed: int, *, members: int = 5_000, effect_bps: int = 1_200, holdout_bps: int = 2_000
) -> SimulatedOffer:
    """One offer's population with a planted effect of `effect_bps` on treatment spend."""
    rng = random.Random(seed)
    offer_id = 1_000 + seed
    multiplier = 10_000 + effect_bps
    t_y: list[int] = []
    t_x: list[int] = []
    c_y: list[int] = []
    c_x: list[int] = []
    for member_id in range(1, members + 1):
        control = in_holdout(offer_id, member_id, holdout_bps)
        pre = spend = 0
        if rng.random() < CUSTOMER_SHARE:
            rate = rng.gammavariate(VISITS_SHAPE, VISITS_MEAN / VISITS_SHAPE)
            ticket = rng.lognormvariate(math.log(TICKET_MEDIAN), TICKET_SIGMA)
            pre = sum(_visits(rng, ticket, rate * _lognormal_mean_one(rng, RATE_DRIFT_SIGMA)))
            amounts = _visits(rng, ticket, rate * _lognormal_mean_one(rng, RATE_DRIFT_SIGMA))
            if not control:
                amounts = [round_half_even(a * multiplier, 10_000) for a in amounts]
            spend = sum(amounts)
        (c_y if control else t_y).append(spend)
        (c_x if control else t_x).append(pre)
    true_lift = expected_spend_per_member() * effect_bps / 10_000
    return SimulatedOffer(t_y, c_y, t_x, c_x, true_lift)


@dataclass
class Tally:
    """Coverage and widths over seeds, for one planted effect."""

    true_lift: float
    runs: int = 0
    cuped_covered: int = 0
    plain_covered: int = 0
    relative_covered: int = 0
    cuped_width_sum: float = 0.0
    plain_width_sum: float = 0.0
    cuped_estimate_sum: float = 0.0
    plain_estimate_sum: float = 0.0

    def add(self, sim: SimulatedOffer, true_relative: float) -> None:
        cuped, plain = sim.cuped(), sim.plain()
        self.runs += 1
        self.cuped_covered += cuped.covers(self.true_lift)
        self.plain_covered += plain.covers(self.true_lift)
        low, high = cuped.relative_ci_low, cuped.relative_ci_high
        self.relative_covered += (
            low is not None and high is not None and low <= true_relative <= high
        )
        self.cuped_width_sum += cuped.absolute_ci_width
        self.plain_width_sum += plain.absolute_ci_width
        self.cuped_estimate_sum += cuped.absolute_lift
        self.plain_estimate_sum += plain.absolute_lift

    @property
    def cuped_width(self) -> float:
        return self.cuped_width_sum / self.runs

    @property
    def plain_width(self) -> float:
        return self.plain_width_sum / self.runs


def run_seeds(
    *,
    seeds: int,
    members: int,
    effect_bps: int,
    holdout_bps: int,
    on_seed: Callable[[int], None] | None = None,
) -> tuple[Tally, Tally]:
    """(planted effect, no effect) tallies over seeds 1..`seeds`.

    The null case draws its own populations (seed + NULL_SEED_OFFSET), so the two checks are
    independent rather than the same noise twice.
    """
    planted = Tally(expected_spend_per_member() * effect_bps / 10_000)
    null = Tally(0.0)
    for seed in range(1, seeds + 1):
        planted.add(
            simulate(seed, members=members, effect_bps=effect_bps, holdout_bps=holdout_bps),
            effect_bps / 10_000,
        )
        null.add(
            simulate(
                seed + NULL_SEED_OFFSET, members=members, effect_bps=0, holdout_bps=holdout_bps
            ),
            0.0,
        )
        if on_seed is not None:
            on_seed(seed)
    return planted, null


def _share(n: int, runs: int) -> str:
    return f"{n:>3}/{runs}"


def run_lift_benchmark(
    *,
    seeds: int = 100,
    members: int = 5_000,
    effect_bps: int = 1_200,
    holdout_bps: int = 2_000,
    out: TextIO | None = None,
) -> int:
    """Print the figures; 0 when coverage and the CUPED narrowing meet the bar, else 1."""
    out = out or sys.stdout
    if seeds < 1 or members < 10 or not 0 < holdout_bps < 10_000:
        print("clo bench lift: need seeds >= 1, members >= 10, 0 < holdout-bps < 10000", file=out)
        return 2
    with tracked("lift", seeds, unit="seeds") as tracker:
        planted, null = run_seeds(
            seeds=seeds,
            members=members,
            effect_bps=effect_bps,
            holdout_bps=holdout_bps,
            on_seed=lambda seed: tracker.update(seed, seed),
        )
    need = math.ceil(COVERAGE_NEEDED * seeds / 100)
    shown = console(out)
    shown.print(
        f"clo bench lift: {seeds} seeds, {members:,} members, holdout {holdout_bps:,} bps, "
        f"planted effect {effect_bps:,} bps\n"
        f"  model: {CUSTOMER_SHARE:.0%} of members buy at the brand; E[spend per member] "
        f"{expected_spend_per_member():,.1f} minor units per period",
        markup=False,
    )
    ok = True
    for title, tally in (
        (f"planted effect: true lift {planted.true_lift:,.1f} per member", planted),
        ("no effect: true lift 0", null),
    ):
        target = "zero" if tally.true_lift == 0 else "the true lift"
        narrower = 1 - tally.cuped_width / tally.plain_width if tally.plain_width else 0.0
        table = Table(title=title, title_justify="left", box=None, pad_edge=False)
        for column in ("", "CUPED", "plain", ""):
            table.add_column(column, justify="left" if not column else "right", no_wrap=True)
        table.add_row(
            f"95% CI covers {target}",
            _share(tally.cuped_covered, seeds),
            _share(tally.plain_covered, seeds),
            f"(need >= {need})",
        )
        table.add_row("relative CI covers it", _share(tally.relative_covered, seeds), "", "")
        table.add_row(
            "mean estimate",
            f"{tally.cuped_estimate_sum / seeds:,.1f}",
            f"{tally.plain_estimate_sum / seeds:,.1f}",
            "",
        )
        table.add_row(
            "mean CI width",
            f"{tally.cuped_width:,.1f}",
            f"{tally.plain_width:,.1f}",
            f"(CUPED {narrower:.1%} narrower)",
        )
        shown.print(table)
        ok = ok and tally.cuped_covered >= need and tally.cuped_width < tally.plain_width
    shown.print(f"result: {'PASS' if ok else 'FAIL'}", markup=False)
    return 0 if ok else 1
