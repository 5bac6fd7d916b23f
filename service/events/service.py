"""Why a card event did or did not earn cashback, from the decisions recorded with it.

Members never learn about offers they are held out of: the control group sees nothing, so
holdout decisions are left out of what a member is shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from sqlmodel import Session

from service.auth import Principal, Role
from service.events import repository as repo
from service.events.schemas import CandidateOut, ExplanationOut
from service.problems import NotFound
from service.tables import CardEventRow

WON = "qualified"  # the decision that paid; other qualifying offers were "outbid"
OUTBID = "outbid"
HOLDOUT = "holdout"
MAX_DECISIONS = 500


@dataclass(frozen=True, slots=True)
class Decision:
    offer_id: int
    reason: str
    reward_amount: int


def parse_decisions(text: str | None) -> list[Decision]:
    """`[[offer_id, reason, reward_amount], ...]`; anything malformed is skipped, not a 500."""
    try:
        raw = json.loads(text or "[]")
    except ValueError:
        return []
    out = []
    for item in raw[:MAX_DECISIONS] if isinstance(raw, list) else ():
        if (
            isinstance(item, list | tuple)
            and len(item) >= 3
            and isinstance(item[0], int)
            and isinstance(item[1], str)
            and isinstance(item[2], int)
        ):
            out.append(Decision(item[0], item[1], item[2]))
    return out


def member_facing(
    outcome: str, reason: str | None, decisions: list[Decision]
) -> tuple[str, str | None, list[Decision]]:
    """The event as its member may see it: nothing about offers they are held out of."""
    shown = [d for d in decisions if d.reason != HOLDOUT]
    if reason != HOLDOUT:
        return outcome, reason, shown
    if not shown:
        return "no_offer", None, shown
    reasons = [d.reason for d in shown]
    for preferred in ("stamp_progress", "threshold_progress"):
        if preferred in reasons:
            return outcome, preferred, shown
    return outcome, reasons[0], shown


def event_in_scope(session: Session, principal: Principal, event_id: int) -> CardEventRow:
    """Members see their own events, publishers their members' events, merchants the events
    at their brand."""
    event = repo.get_event(session, event_id)
    if (
        event is None
        or (principal.role is Role.MEMBER and event.member_id != principal.member_id)
        or (principal.role is Role.MERCHANT and event.merchant_id != principal.merchant_id)
        or (
            principal.role is Role.PUBLISHER
            and not repo.member_of_publisher(session, event.member_id, principal.publisher_id)
        )
    ):
        raise NotFound(f"card event {event_id} not found", field="event_id")
    return event


def _candidate_outcome(reason: str) -> Literal["won", "qualified", "not_qualified"]:
    if reason == WON:
        return "won"
    return "qualified" if reason == OUTBID else "not_qualified"


def explain(session: Session, principal: Principal, event: CardEventRow) -> ExplanationOut:
    assert event.id is not None
    outcome, reason = event.outcome, event.reason
    decisions = parse_decisions(event.decisions_json)
    if principal.role in (Role.MEMBER, Role.PUBLISHER):  # the member's side: no holdouts
        outcome, reason, decisions = member_facing(outcome, reason, decisions)
    offers = repo.offers_by_id(session, [d.offer_id for d in decisions])
    if principal.role is Role.MERCHANT:
        decisions = [
            d for d in decisions if offers.get(d.offer_id, ("", None))[1] == principal.merchant_id
        ]
    candidates = [
        CandidateOut(
            offer_id=d.offer_id,
            offer_title=offers.get(d.offer_id, (None, None))[0],
            outcome=_candidate_outcome(d.reason),
            reason=d.reason,
            reward_amount=d.reward_amount,
        )
        for d in decisions
    ]
    return ExplanationOut(
        event_id=event.id, kind=event.kind, outcome=outcome, reason=reason, candidates=candidates
    )
