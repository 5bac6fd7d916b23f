"""Activity: every card event with its merchant, amount and reward state, and where nothing
was earned the reason in plain words; payouts and donations beside them. An event's page
shows each offer that was considered and why it did or did not pay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlmodel import Session, col, select

from service.auth import db_session
from service.events import service as events
from service.events.service import parse_decisions
from service.members import service as members
from service.offers.catalog import aware
from service.tables import CardEventRow, Merchant, Offer
from service.web.app.identity import SignedIn, current_member
from service.web.app.pages_wallet import money_moves
from service.web.app.reasons import reason_text
from service.web.i18n import N_
from service.web.templating import formatter_of, render

router = APIRouter(prefix="/app/activity", include_in_schema=False)
PAGE_SIZE = 30
EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]


def reward_view(item, fmt, *, paid_until=None) -> dict:
    """What a member reads about one event's cashback: a state, an amount and a sentence.

    `paid_until`: when the member's latest payout was made; cashback that had matured by
    then went out with it (a payout takes the whole available balance).
    """
    reward = item.reward
    if item.kind == "refund" and item.outcome == "clawback":
        return {"state": "clawed", "label": fmt.gettext("Refund: cashback taken back")}
    if reward is None:
        return {"state": "none", "label": reason_text(item.reason, item.outcome, fmt)}
    net = reward.reward_amount - reward.clawed_reward_amount
    amount = fmt.money(net, item.currency)
    if reward.state == "voided":
        return {"state": "voided", "label": fmt.gettext("Voided: the purchase was cancelled")}
    if reward.state == "matured" and _paid(reward.hold_until, paid_until):
        label = fmt.gettext("%(amount)s cashback, paid out", amount=amount)
        state = "paid"
    elif reward.state == "matured":
        label = fmt.gettext("%(amount)s cashback, available", amount=amount)
        state = "available"
    elif reward.state == "cleared" and reward.hold_until is not None:
        label = fmt.gettext(
            "%(amount)s cashback, pending until %(date)s",
            amount=amount,
            date=fmt.date(reward.hold_until),
        )
        state = "pending"
    else:
        label = fmt.gettext("%(amount)s cashback, pending until the purchase clears", amount=amount)
        state = "pending"
    if reward.clawed_reward_amount:
        label += " · " + fmt.gettext(
            "%(amount)s taken back after a refund",
            amount=fmt.money(reward.clawed_reward_amount, item.currency),
        )
    return {"state": state, "label": label}


def _paid(hold_until, paid_until) -> bool:
    if hold_until is None or paid_until is None:
        return False
    return aware(hold_until) <= aware(paid_until)


# Reasons that read better naming the offer (and its minimum): "Coffee week pays on $10.00
# or more; this purchase was $4.50."
SPECIFIC = {
    "below_min_spend": N_("%(offer)s pays on %(minimum)s or more; this purchase was %(amount)s."),
    "activated_after_purchase": N_("You activated %(offer)s after this purchase."),
    "not_activated": N_("You had not activated %(offer)s before this purchase."),
}


def specific_reasons(session: Session, items, fmt) -> dict[int, str]:
    """Event id → a sentence naming the offer behind its reason, for the reasons above."""
    wanted = [i for i in items if i.reward is None and i.reason in SPECIFIC]
    if not wanted:
        return {}
    rows = session.exec(
        select(CardEventRow.id, CardEventRow.decisions_json).where(
            col(CardEventRow.id).in_([i.event_id for i in wanted])
        )
    ).all()
    decisions = {event_id: parse_decisions(text) for event_id, text in rows}
    offer_ids = {
        d.offer_id for i in wanted for d in decisions.get(i.event_id, []) if d.reason == i.reason
    }
    offers = {o.id: o for o in session.exec(select(Offer).where(col(Offer.id).in_(offer_ids)))}
    out = {}
    for item in wanted:
        match = next((d for d in decisions.get(item.event_id, []) if d.reason == item.reason), None)
        offer = offers.get(match.offer_id) if match else None
        if offer is None:
            continue
        out[item.event_id] = fmt.gettext(
            SPECIFIC[item.reason],
            offer=f"\u201c{offer.title}\u201d",
            minimum=fmt.money(offer.min_spend_amount, offer.currency),
            amount=fmt.money(item.amount, item.currency),
        )
    return out


def event_rows(items, fmt, paid_until, specific: dict[int, str] | None = None) -> list[dict]:
    """One row per event; a reward shared by an auth and its clearing is shown once, on
    the newest of them (the final amount), so nothing looks earned twice."""
    seen: set[int] = set()
    rows = []
    for item in items:
        if item.reward is not None and item.reward.reward_id in seen:
            view = {"state": "none", "label": fmt.gettext(SHOWN_ABOVE)}
        elif specific and item.event_id in specific:
            view = {"state": "none", "label": specific[item.event_id]}
        else:
            view = reward_view(item, fmt, paid_until=paid_until)
            if item.reward is not None:
                seen.add(item.reward.reward_id)
        rows.append({"item": item, "reward": view})
    return rows


SHOWN_ABOVE = N_("Its cashback is shown with the final amount, above.")


@router.get("")
def activity(
    request: Request,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    fmt = formatter_of(request)
    items = members.activity(
        session, who.principal, who.member, before_id=before, limit=PAGE_SIZE + 1
    )
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    payouts, donations = money_moves(session, who.member_id)
    paid = [p.created_at for p in payouts if p.status == "paid"]
    rows = event_rows(
        items, fmt, max(paid) if paid else None, specific_reasons(session, items, fmt)
    )
    if before is not None:
        payouts, donations = [], []
    context = {
        "who": who,
        "rows": rows,
        "next_before": items[-1].event_id if more and items else None,
        "payouts": payouts,
        "donations": donations,
    }
    return render(request, "app/activity.html", context)


@router.get("/{event_id}")
def event_detail(
    request: Request,
    event_id: EventId,
    session: Session = db_session,
    who: SignedIn = Depends(current_member),
) -> Response:
    fmt = formatter_of(request)
    # The same scope as GET /v1/card-events/{id}/explanation: another member's event is
    # not found, and offers the member is held out of are never mentioned.
    event = events.event_in_scope(session, who.principal, event_id)
    explanation = events.explain(session, who.principal, event)
    candidates = [
        {
            "title": c.offer_title,
            "won": c.outcome == "won",
            "text": reason_text(c.reason, c.outcome, fmt),
            "amount": fmt.money(c.reward_amount, event.currency) if c.reward_amount else None,
        }
        for c in explanation.candidates
    ]
    brand = session.get(Merchant, event.merchant_id) if event.merchant_id else None
    context = {
        "who": who,
        "event": event,
        "merchant": brand.brand_name if brand else event.merchant_name or event.descriptor,
        "summary": reason_text(explanation.reason, explanation.outcome, fmt)
        if explanation.outcome != "rewarded"
        else fmt.gettext(REWARDED),
        "candidates": candidates,
    }
    return render(request, "app/event.html", context)


REWARDED = N_("You earned cashback on this purchase.")
