"""An offer's performance: the attribution report's figures (the same numbers finance sees),
a day-by-day series from the offer's rewards, and its budget burned against the total with
the day it runs out at the current pace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlmodel import Session

from service.attribution.service import MAX_PERIOD_DAYS, report_for
from service.auth import Principal
from service.offers import repository as offer_repo
from service.offers.catalog import aware
from service.tables import Offer
from settlement.attribution import OfferAttribution
from settlement.tables import Reward

PACE_DAYS = 7  # the pace is the average daily cashback of the last week


@dataclass(frozen=True)
class Budget:
    total_amount: int | None
    used_amount: int
    daily_pace_amount: int
    runs_out_on: date | None


def period_of(offer: Offer, now: datetime) -> tuple[date, date]:
    """From the offer's first day (at most a report's length back) to tomorrow."""
    end = now.date() + timedelta(days=1)
    start = max(aware(offer.starts_at).date(), end - timedelta(days=MAX_PERIOD_DAYS))
    return min(start, now.date()), end


def attribution(session: Session, principal: Principal, offer: Offer, now: datetime):
    start, end = period_of(offer, now)
    rows = report_for(session, principal, period_start=start, period_end=end, offer_id=offer.id)
    return rows[0] if rows else None


def daily(session: Session, offer_id: int, start: date, end: date) -> list[dict]:
    """Per UTC day: qualified purchases, spend, cashback and commission (voided ones left out)."""
    r = Reward.__table__.c
    day = func.date(r.occurred_at)
    rows = (
        session.connection()
        .execute(
            select(
                day,
                func.count(),
                func.sum(r.spend_amount),
                func.sum(r.reward_amount - r.clawed_reward_amount),
                func.sum(r.commission_amount - r.clawed_commission_amount),
            )
            .where(
                r.offer_id == offer_id,
                r.state != "voided",
                r.occurred_at >= datetime.combine(start, datetime.min.time(), tzinfo=UTC),
                r.occurred_at < datetime.combine(end, datetime.min.time(), tzinfo=UTC),
            )
            .group_by(day)
            .order_by(day)
        )
        .all()
    )
    found = {str(row[0])[:10]: row for row in rows}
    out = []
    current = start
    while current < end:
        row = found.get(current.isoformat())
        out.append(
            {
                "day": current.isoformat(),
                "qualified": int(row[1]) if row else 0,
                "spend_amount": int(row[2] or 0) if row else 0,
                "cashback_amount": int(row[3] or 0) if row else 0,
                "commission_amount": int(row[4] or 0) if row else 0,
            }
        )
        current += timedelta(days=1)
    return out


WEEKLY_AFTER_DAYS = 62  # longer series are drawn by week, or the bars become hairlines


def for_chart(days: list[dict]) -> list[dict]:
    """The daily series, or by week (labelled with its Monday) when it is long."""
    if len(days) <= WEEKLY_AFTER_DAYS:
        return days
    weeks: dict[str, dict] = {}
    for d in days:
        day = date.fromisoformat(d["day"])
        key = (day - timedelta(days=day.weekday())).isoformat()
        week = weeks.setdefault(key, {"day": key, "qualified": 0, "spend_amount": 0,
                                      "cashback_amount": 0, "commission_amount": 0})  # fmt: skip
        for name in ("qualified", "spend_amount", "cashback_amount", "commission_amount"):
            week[name] += d[name]
    return list(weeks.values())


def budget(session: Session, offer: Offer, days: list[dict], today: date) -> Budget:
    assert offer.id is not None
    used, _ = offer_repo.budget_usage(session, [offer.id]).get(offer.id, (0, 0))
    recent = [d for d in days if date.fromisoformat(d["day"]) > today - timedelta(days=PACE_DAYS)]
    pace = sum(d["cashback_amount"] for d in recent) // PACE_DAYS
    runs_out = None
    if offer.budget_amount is not None and pace > 0:
        left = max(offer.budget_amount - used, 0)
        runs_out = today + timedelta(days=-(-left // pace))
    return Budget(offer.budget_amount, used, pace, runs_out)


def burn_down(offer: Offer, days: list[dict], used_amount: int) -> list[dict]:
    """Budget left at the end of each day (the last day ends at what is reserved now)."""
    if offer.budget_amount is None:
        return []
    spent_in_series = sum(d["cashback_amount"] for d in days)
    before = max(used_amount - spent_in_series, 0)  # reserved before the series starts
    left, out = offer.budget_amount - before, []
    for d in days:
        left -= d["cashback_amount"]
        out.append({"day": d["day"], "left_amount": max(left, 0)})
    return out


def lift_json(row: OfferAttribution | None) -> dict | None:
    if row is None or row.holdout is None:
        return None
    h = row.holdout
    lift = h.lift
    out = {
        "holdout_bps": h.holdout_bps,
        "treatment": {
            "members": h.treatment.members,
            "spend_per_member_amount": h.treatment.spend_per_member_amount,
        },
        "control": {
            "members": h.control.members,
            "spend_per_member_amount": h.control.spend_per_member_amount,
        },
        "note": h.lift_note,
        "estimate": None,
        "lifts": [],
    }
    if lift is not None:
        out["lifts"] = [
            {
                "label": row.title,
                "lift_per_member": lift.absolute_lift,
                "ci_low": lift.absolute_ci_low,
                "ci_high": lift.absolute_ci_high,
            }
        ]
        out["estimate"] = {
            "method": lift.method,
            "confidence_level": lift.confidence,
            "lift_per_member": lift.absolute_lift,
            "ci_low": lift.absolute_ci_low,
            "ci_high": lift.absolute_ci_high,
            "relative_lift": lift.relative_lift,
        }
    return out
