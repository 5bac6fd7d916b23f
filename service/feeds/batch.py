"""One batch's member, offer and budget state, and the reward transitions of its events.

The pipeline reads everything a batch needs in bulk, then `BatchState` applies each event
in order (purchase, clearing, reversal or refund), keeping counters, budgets and brand
history current within the batch, and writes the deltas once at the end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from sqlalchemy import Connection

from matching.claims import covering_claim
from matching.events import CardEvent, EventKind
from matching.lifecycle import Presentment, RewardTerms, classify_clearing, price_at_clearing
from matching.match import MatchContext, Reason, match
from matching.match import MemberOfferState as OfferState
from matching.offers import OfferRules
from service.claims.repository import mark_matched
from service.feeds import context as ctx
from service.feeds.loading import NO_PROFILE, BatchContext, MemberProfile
from settlement.budget import Remaining, budget_alerts, reserve
from settlement.budget_holds import BudgetHolds
from settlement.outbox import OutboxRow, outbox_row, write_outbox
from settlement.rewards import RewardBook, RewardRecord, RewardState

_CLEARED_STATES = (RewardState.CLEARED, RewardState.MATURED)
NO_COUNTS = OfferState()


@dataclass(slots=True)
class Linked:
    """A stored or in-batch event that a later event refers to."""

    id: int
    kind: str
    card_id: int
    merchant_id: int | None
    amount: int
    currency: str
    occurred_at: datetime
    reward_id: int | None
    outcome: str
    reason: str | None
    # Amounts of the clearings that settled this auth so far (duplicate presentments aside).
    clearing_amounts: list[int] = field(default_factory=list)

    @property
    def cleared(self) -> bool:
        return bool(self.clearing_amounts)


@dataclass(slots=True)
class Row:
    index: int
    event: CardEvent
    member_id: int
    merchant_id: int | None
    id: int = 0
    outcome: str = ""
    reason: str | None = None
    reward_id: int | None = None
    reward_amount: int = 0
    linked_event_id: int | None = None
    decisions: list = field(default_factory=list)
    rejection: tuple[str, str, str] | None = None  # field, reason, detail


class BatchState:
    """The decide stage: applies each event of a batch in order (purchase, clearing, reversal
    or refund) against working copies of its loaded context, keeping counters, budgets and
    brand history current within the batch. No connection: everything comes from the
    `BatchContext`, and `write_batch_state` writes the deltas once at the end."""

    def __init__(self, context: BatchContext, book: RewardBook) -> None:
        self.context = context
        self.book = book
        self.candidates = context.candidates
        self.rules: dict[int, OfferRules] = {
            o.offer_id: o for found in context.candidates.values() for o in found
        }
        self.rules.update(context.rules)
        # Working copies: the loaded context stays as it was read.
        self.rewards: dict[int, RewardRecord] = {k: replace(v) for k, v in context.rewards.items()}
        self.members = context.members
        self.activations = context.activations
        self.history = context.brand_history
        # Counters changed in this batch, over the loaded ones (which stay as read).
        self.states: dict[int, dict[int, OfferState]] = {}
        self.budget_left = {
            k: v.amount for k, v in context.remaining.items() if v.amount is not None
        }
        self.redemptions_left = {
            k: v.redemptions for k, v in context.remaining.items() if v.redemptions is not None
        }
        self.reward_ids = list(reversed(context.reward_ids))
        self.auth_expiry_days = context.auth_expiry_days
        self.budget_deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        self.state_deltas: dict[tuple[int, int], list[int]] = {}
        self.purchases: dict[tuple[int, int], tuple[datetime, datetime, int]] = {}
        # Missing-cashback claims: claim id -> the card event found to be its purchase.
        self.open_claims = dict(context.open_claims)
        self.claimed_events: dict[int, int] = {}

    # -- purchases -----------------------------------------------------------------------------
    def purchase(self, row: Row, *, cleared: bool) -> None:
        event = row.event
        candidates = self.candidates.get(row.id, ())
        # Only an audience asks about earlier purchases (its histories alone were loaded).
        last_purchase_at = (
            self._last_purchase_before(row)
            if any(o.reads_brand_history for o in candidates)
            else None
        )
        if row.merchant_id is not None:
            self._record_purchase(row.member_id, row.merchant_id, event.occurred_at)
        if self._paid_by_claim(row):
            return
        if not candidates:
            row.outcome, row.reason = "no_offer", None
            return
        member = self._member(row.member_id)
        result = match(
            event,
            candidates,
            MatchContext(
                member_id=row.member_id,
                member_tier=member.tier,
                birth_month=member.birth_month,
                activations=self.activations.get(row.member_id, {}),
                last_brand_purchase_at=last_purchase_at,
                offer_states=self._member_states(row.member_id),
                budget_remaining=self.budget_left,
                redemptions_remaining=self.redemptions_left,
            ),
        )
        row.decisions = [[d.offer_id, d.reason.value, d.reward_amount] for d in result.decisions]
        for d in result.decisions:
            if d.stamp_counted or d.threshold_spend_counted:
                self._count(
                    row.member_id,
                    d.offer_id,
                    stamps=int(d.stamp_counted),
                    spend=d.threshold_spend_counted,
                    paid=d.qualified and d.threshold_spend_counted > 0,
                )
        winner = result.winner
        if winner is None:
            row.outcome = "no_reward"
            row.reason = explain(result.decisions)
            return
        offer = next(o for o in candidates if o.offer_id == winner.offer_id)
        reward_id = self._next_reward_id()
        record = RewardRecord(
            id=reward_id,
            member_id=row.member_id,
            offer_id=offer.offer_id,
            merchant_id=offer.merchant_id,
            currency=offer.currency,
            state=RewardState.CLEARED if cleared else RewardState.AUTHORIZED,
            auth_event_id=None,
            clearing_event_id=None,
            spend_amount=event.amount,
            reward_amount=winner.reward_amount,
            commission_amount=winner.commission_amount,
            occurred_at=event.occurred_at,
            hold_days=offer.hold_days,
        )
        self.book.open(record, event_id=row.id, auth_expiry_days=self.auth_expiry_days)
        self.rewards[reward_id] = record
        self._reserve(offer.offer_id, winner.reward_amount, 1)
        self._count(row.member_id, offer.offer_id, rewards=1, amount=winner.reward_amount)
        row.outcome, row.reward_id, row.reward_amount = "rewarded", reward_id, winner.reward_amount

    def clear(self, row: Row, auth: Linked, *, tolerance_bps: int) -> None:
        """A clearing linked to `auth`: its first, a further part, or a duplicate presentment."""
        event = row.event
        row.linked_event_id = auth.id
        record = self._reward(auth.reward_id) if auth.reward_id is not None else None
        earlier = list(auth.clearing_amounts)
        if not earlier and record is not None and record.state in _CLEARED_STATES:
            # Cleared by a concurrent batch since the auth was read: the locked reward knows.
            earlier = [record.spend_amount]
        presentment = classify_clearing(
            auth.amount, earlier, event.amount, tolerance_bps=tolerance_bps
        )
        if presentment is Presentment.DUPLICATE:
            row.outcome, row.reason = "no_reward", "duplicate_presentment"
            return
        auth.clearing_amounts.append(event.amount)
        if record is None:
            row.outcome, row.reason = "no_reward", auth.reason or auth.outcome
            return
        row.reward_id = record.id
        cleared_total = sum(earlier) + event.amount
        if record.state in _CLEARED_STATES:
            terms = self._priced(record, cleared_total, base_net=record.net_reward_amount)
            added = self.book.add_clearing(record, terms, event_id=row.id, at=event.occurred_at)
            self._reserve(record.offer_id, added, 0)
            self._count(record.member_id, record.offer_id, amount=added)
            row.outcome, row.reward_amount = ("rewarded", added) if added else ("no_reward", 0)
            row.reason = None if added else "incremental_clearing"
            return
        reopened = record.state is RewardState.VOIDED
        if reopened and self.redemptions_left.get(record.offer_id, 1) <= 0:
            row.outcome, row.reason = "no_reward", "budget_exhausted"
            return
        base_net = 0 if reopened else record.net_reward_amount
        terms = self._priced(record, cleared_total, base_net=base_net)
        if reopened and terms.net_reward_amount <= 0:
            # Refunded in full before its clearing: the refund stands.
            row.outcome, row.reason = "no_reward", "refunded_before_clearing"
            return
        delta = self.book.clear(record, terms, event_id=row.id, at=event.occurred_at)
        self._reserve(record.offer_id, delta, int(reopened))
        self._count(record.member_id, record.offer_id, rewards=int(reopened), amount=delta)
        row.outcome, row.reward_amount = "rewarded", record.net_reward_amount

    def _priced(self, record: RewardRecord, cleared_total: int, *, base_net: int) -> RewardTerms:
        """The reward's terms on `cleared_total`, its net growing at most by what the budget
        and the member's cap leave (`base_net` is what is reserved for it now)."""
        offer = self.rules.get(record.offer_id)
        rooms = []
        if record.offer_id in self.budget_left:
            rooms.append(self.budget_left[record.offer_id])
        if offer is not None and offer.member_max_reward_amount is not None:
            state = self._state(record.member_id, record.offer_id)
            rooms.append(offer.member_max_reward_amount - state.reward_amount)
        return price_at_clearing(
            offer,
            record.terms,
            cleared_spend_amount=cleared_total,
            purchased_at=record.occurred_at,
            birth_month=self._member(record.member_id).birth_month,
            max_net_reward_amount=base_net + max(min(rooms), 0) if rooms else None,
        )

    def reverse_or_refund(self, row: Row, original: Linked) -> None:
        event = row.event
        row.linked_event_id, row.reason = original.id, None
        if original.reward_id is None:
            row.outcome, row.reason = "no_reward", "original_not_rewarded"
            return
        record = self._reward(original.reward_id)
        row.reward_id = record.id
        if event.kind is EventKind.REVERSAL and record.state is RewardState.AUTHORIZED:
            released = self.book.void(record, reason="reversed", at=event.occurred_at)
            self._reserve(record.offer_id, -released, -1)
            self._count(record.member_id, record.offer_id, rewards=-1, amount=-released)
            row.outcome = "voided"
            return
        # A refund, or a reversal of a cleared purchase (a refund of what is left of it).
        if event.kind is EventKind.REFUND:
            amount = event.amount
        else:
            amount = record.spend_amount - record.refunded_spend_amount
        if amount <= 0 or (record.state is RewardState.VOIDED and event.kind is EventKind.REVERSAL):
            row.outcome, row.reason = "no_reward", f"reward_{record.state}"
            return
        was_authorized = record.state is RewardState.AUTHORIZED
        claw = self.book.refund(record, refund_amount=amount, event_id=row.id, at=event.occurred_at)
        # A reward voided by the refund frees its redemption too: a voided reward holds nothing.
        voided = int(was_authorized and record.state is RewardState.VOIDED)
        self._reserve(record.offer_id, -claw.reward_amount, -voided)
        self._count(record.member_id, record.offer_id, rewards=-voided, amount=-claw.reward_amount)
        row.outcome, row.reward_amount = "clawback", -claw.reward_amount
        # Tallied on the reward, which `refund` has marked to be written: the report's refunds.
        record.clawback_refund_count += 1
        record.clawback_refund_amount += event.amount

    def _paid_by_claim(self, row: Row) -> bool:
        """A purchase already paid through an accepted claim earns nothing again."""
        if row.merchant_id is None or row.member_id not in self.open_claims:
            return False
        found = self.open_claims[row.member_id]
        claim = covering_claim(found, row.member_id, row.merchant_id, row.event)
        if claim is None:
            return False
        self.open_claims[row.member_id] = tuple(c for c in found if c is not claim)
        self.claimed_events[claim.claim_id] = row.id
        row.outcome, row.reason = "no_reward", "claimed"
        return True

    # -- state -----------------------------------------------------------------------------
    def _next_reward_id(self) -> int:
        # The loader allocated one id per purchase that has an offer to earn.
        return self.reward_ids.pop()

    def _member(self, member_id: int) -> MemberProfile:
        return self.members.get(member_id, NO_PROFILE)

    def _reward(self, reward_id: int) -> RewardRecord:
        found = self.rewards.get(reward_id)
        assert found is not None, f"reward {reward_id} was not loaded for this batch"
        return found

    def _state(self, member_id: int, offer_id: int) -> OfferState:
        found = self.states.get(member_id, {}).get(offer_id) or self.context.offer_states.get(
            member_id, {}
        ).get(offer_id)
        if found is None:
            pair = (member_id, offer_id)
            assert pair in self.context.loaded_pairs, f"counters of {pair} were not loaded"
            return NO_COUNTS
        return found

    def _member_states(self, member_id: int) -> Mapping[int, OfferState]:
        loaded = self.context.offer_states.get(member_id, {})
        changed = self.states.get(member_id)
        return {**loaded, **changed} if changed else loaded

    def _count(
        self,
        member_id: int,
        offer_id: int,
        *,
        rewards: int = 0,
        amount: int = 0,
        stamps: int = 0,
        spend: int = 0,
        paid: bool = False,
    ) -> None:
        offer = self.rules.get(offer_id)
        if offer is None or not offer.keeps_counters:
            return  # nothing reads them: neither kept in the batch nor written
        s = self._state(member_id, offer_id)
        self.states.setdefault(member_id, {})[offer_id] = OfferState(
            reward_count=s.reward_count + rewards,
            reward_amount=s.reward_amount + amount,
            stamp_count=s.stamp_count + stamps,
            threshold_spend_amount=s.threshold_spend_amount + spend,
            threshold_paid=s.threshold_paid or paid,
        )
        d = self.state_deltas.setdefault((member_id, offer_id), [0, 0, 0, 0, 0])
        d[0] += rewards
        d[1] += amount
        d[2] += stamps
        d[3] += spend
        d[4] = d[4] or int(paid)

    def _reserve(self, offer_id: int, amount: int, redemptions: int) -> None:
        if not amount and not redemptions:
            return
        if offer_id in self.budget_left:
            self.budget_left[offer_id] -= amount
        if offer_id in self.redemptions_left:
            self.redemptions_left[offer_id] -= redemptions
        d = self.budget_deltas[offer_id]
        d[0] += amount
        d[1] += redemptions

    def _record_purchase(self, member_id: int, merchant_id: int, at: datetime) -> None:
        key = (member_id, merchant_id)
        prior = self.purchases.get(key)
        self.purchases[key] = (
            (at, at, 1) if prior is None else (min(prior[0], at), max(prior[1], at), prior[2] + 1)
        )

    def _last_purchase_before(self, row: Row) -> datetime | None:
        if row.merchant_id is None:
            return None
        at = row.event.occurred_at
        best = None
        for first, last in (
            self.history.get((row.member_id, row.merchant_id), (None, None)),
            self._batch_purchase_span(row.member_id, row.merchant_id),
        ):
            if first is None or last is None:  # both are stored, or neither
                continue
            # Only first and last are stored: the latest of them strictly before this event.
            for t in (last, first):
                if t < at and (best is None or t > best):
                    best = t
                    break
        return best

    def _batch_purchase_span(
        self, member_id: int, merchant_id: int
    ) -> tuple[datetime | None, datetime | None]:
        prior = self.purchases.get((member_id, merchant_id))
        return (None, None) if prior is None else (prior[0], prior[1])


def write_batch_state(conn: Connection, state: BatchState) -> None:
    """The write stage for what the batch changed beyond its rewards, entries and budgets."""
    ctx.add_offer_state_deltas(conn, state.state_deltas)
    ctx.add_brand_purchases(conn, state.purchases)
    mark_matched(conn, state.claimed_events)


def reserve_budgets(conn: Connection, state: BatchState, holds: BudgetHolds | None = None) -> None:
    """The batch's first write: its budget reservations, each within its offer's limits (held
    ahead of the batch by `holds`, or in its transaction), and the alerts they set off. Raises
    `BudgetMoved` if another batch got there first."""
    deltas = {k: (v[0], v[1]) for k, v in state.budget_deltas.items()}
    if holds is None:
        before = reserve(conn, deltas, state.context.remaining)
    else:
        before = holds.reserve(deltas, state.context.remaining)
    write_outbox(conn, budget_alert_rows(state, before))


def budget_alert_rows(state: BatchState, before: Mapping[int, Remaining]) -> list[OutboxRow]:
    """Outbox rows for the budgets this batch took past 80% or used up, given what remained
    of them just before its reservations."""
    rows = []
    now = state.book.now
    for offer_id, (amount, redemptions) in state.budget_deltas.items():
        remaining = before.get(offer_id)
        if remaining is None:
            continue
        for type_ in budget_alerts(remaining, amount, redemptions):
            offer = state.rules.get(offer_id)
            reserved = None
            if remaining.budget_amount is not None and remaining.amount is not None:
                reserved = remaining.budget_amount - remaining.amount + amount
            rows.append(
                outbox_row(
                    type_,
                    occurred_at=now,
                    now=now,
                    merchant_id=offer.merchant_id if offer else None,
                    offer_id=offer_id,
                    amount_minor=reserved,
                    currency=offer.currency if offer else None,
                    data={
                        "budget_amount": remaining.budget_amount,
                        "max_redemptions": remaining.max_redemptions,
                    },
                )
            )
    return rows


def explain(decisions) -> str | None:
    """The most telling reason when nothing qualified."""
    if not decisions:
        return None
    reasons = [d.reason for d in decisions]
    for preferred in (Reason.HOLDOUT, Reason.STAMP_PROGRESS, Reason.THRESHOLD_PROGRESS):
        if preferred in reasons:
            return preferred.value
    return reasons[0].value
