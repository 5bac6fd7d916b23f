"""Plaid transactions → canonical card event records (no I/O).

pending → auth; posted → clearing, linked to the auth through `pending_transaction_id`;
removed → reversal of what the transaction last became; a negative amount is a refund (only
once posted). Amounts are floats: `Decimal(str(x))`, then minor units by the currency.

What each Plaid transaction became is kept per transaction (`TxState`), so a later change
(an amount modified, a removal) knows which event to reverse or adjust, and so that syncing
the same changes again produces the same external ids (the pipeline then drops duplicates):
- a pending amount changed: reversal of the auth, a new auth `{id}:v{n}`;
- a posted amount lowered: a refund of the difference `{id}:adj{n}` (proportional clawback);
- a pending transaction that posts by a change of itself (some institutions): the clearing
  `{id}:v{n}` of its auth at the posted amount;
- a posted amount raised: an incremental clearing of the difference `{id}:inc{n}` of the same
  auth, so the purchase is priced again (within the 25% tip tolerance); a clearing with no
  auth is reversed and cleared again `{id}:v{n}` (matched again);
- a posted transaction without `pending_transaction_id` (many institutions send none) is
  linked to the pending one it settles by account, currency, amount (the same, or up to 25%
  more for a tip) and date (within `PENDING_LINK_WINDOW_DAYS`), even when that pending one was
  removed in an earlier sync; the clearing then names the auth, so the purchase is priced
  again at the posted amount (one reward, revived if the removal had voided it), not a new
  purchase a member's count cap could refuse. Else it is a purchase of its own;
- a refund carries no link to its purchase: it is linked to the latest purchase on the same
  card at the same merchant of at least its amount, else left unlinked (recorded, no clawback).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from matching.index import normalize_name
from matching.money import decimal_to_minor
from service.feeds.records import RawRecord


@dataclass(frozen=True)
class TxState:
    transaction_ref: str
    card_id: int
    event_external_id: str | None
    kind: str | None  # auth | clearing | refund | None (no event)
    amount: int  # minor units, signed as Plaid's (negative = money back)
    currency: str | None
    pending: bool
    merchant_key: str | None
    version: int
    removed: bool
    occurred_at: datetime | None
    posted_as: str | None = None  # a pending one: the posted transaction that settled it
    auth_external_id: str | None = None  # a clearing: the auth event it settles


# How far apart a pending transaction and the posted one settling it may be, and how much
# more the posted amount may be (a tip), when Plaid does not link them.
PENDING_LINK_WINDOW_DAYS = 5
PENDING_LINK_TOLERANCE_BPS = 2_500


@dataclass
class Plan:
    records: list[RawRecord]
    states: dict[str, TxState]  # changed states only


def _get(tx: Any, name: str) -> Any:
    return tx.get(name) if isinstance(tx, dict) else getattr(tx, name, None)


def _occurred_at(tx: Any) -> datetime:
    for name in ("authorized_datetime", "datetime"):
        value = _get(tx, name)
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        if isinstance(value, str) and value:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
    for name in ("authorized_date", "date"):
        value = _get(tx, name)
        if isinstance(value, str) and value:
            value = date.fromisoformat(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise ValueError("no date")


def merchant_key(tx: Any) -> str | None:
    entity = _get(tx, "merchant_entity_id")
    if entity:
        return str(entity)[:255]
    name = _get(tx, "merchant_name") or _get(tx, "name")
    return normalize_name(str(name))[:255] if name else None


def _fields(tx: Any, **values: Any) -> dict[str, Any]:
    channel = str(_get(tx, "payment_channel") or "")
    location = _get(tx, "location")
    fields = {
        "merchant_name": (_get(tx, "merchant_name") or _get(tx, "name") or None),
        "brand_hint": _get(tx, "merchant_entity_id") or None,
        "channel": "online" if channel == "online" else "in_store",
        "postal_code": _get(location, "postal_code") if location is not None else None,
        "country": _get(location, "country") if location is not None else None,
        **values,
    }
    if fields["occurred_at"] is not None:
        fields["occurred_at"] = fields["occurred_at"].isoformat()
    return {k: v for k, v in fields.items() if v is not None}


def _record(fields: dict[str, Any]) -> RawRecord:
    return RawRecord(fields, json.dumps(fields, sort_keys=True, default=str))


class Planner:
    """Turns one complete sync (all pages) into event records and new transaction states."""

    def __init__(
        self, states: dict[str, TxState], cards_by_account: dict[str, int], now: datetime
    ) -> None:
        self.now = now
        self.states = dict(states)
        self.cards = cards_by_account
        self.records: list[RawRecord] = []
        self.changed: dict[str, TxState] = {}
        self.superseded: set[str] = set()  # pending ones a posted one settles: no reversal

    def plan(self, added: list[Any], modified: list[Any], removed: list[Any]) -> Plan:
        upserts = [*added, *modified]
        self.superseded = {
            str(p)
            for tx in upserts
            if not _get(tx, "pending") and (p := _get(tx, "pending_transaction_id"))
        }
        # Pending first so a posted one in the same sync finds its auth.
        for tx in sorted(upserts, key=lambda t: not _get(t, "pending")):
            self._upsert(tx)
        for tx in removed:
            self._remove(str(_get(tx, "transaction_id")))
        return Plan(self.records, self.changed)

    def _save(self, state: TxState) -> None:
        self.states[state.transaction_ref] = state
        self.changed[state.transaction_ref] = state

    def _emit(self, **fields: Any) -> None:
        self.records.append(_record(fields))

    def _upsert(self, tx: Any) -> None:
        ref = str(_get(tx, "transaction_id"))
        card_id = self.cards.get(str(_get(tx, "account_id")))
        if card_id is None:
            return  # an account that is not a card (savings, loans...)
        currency = _get(tx, "iso_currency_code") or _get(tx, "unofficial_currency_code")
        pending = bool(_get(tx, "pending"))
        try:
            raw = _get(tx, "amount")
            if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
                raise ValueError("amount is not a number")
            value = Decimal(str(raw))
            amount = decimal_to_minor(abs(value), str(currency))
            amount = -amount if value < 0 else amount
            occurred_at = _occurred_at(tx)
        except (ValueError, TypeError, InvalidOperation) as exc:
            detail = f"Plaid transaction cannot become an event: {str(exc)[:120]}"
            fields = {"external_id": ref, "card_id": card_id, "currency": currency}
            self.records.append(
                RawRecord(fields, json.dumps(fields), 0, ("amount", "invalid_amount", detail))
            )
            return
        prev = self.states.get(ref)
        base = TxState(
            ref,
            card_id,
            None,
            None,
            amount,
            currency,
            pending,
            merchant_key(tx),
            0,
            False,
            occurred_at,
        )
        common = {"card_id": card_id, "currency": currency, "occurred_at": occurred_at}
        if prev is None or prev.removed or prev.event_external_id is None:
            version = 0 if prev is None else prev.version + 1
            ext = ref if version == 0 else f"{ref}:v{version}"
            self._open(tx, replace(base, version=version), ext, amount, pending, common)
            return
        if prev.amount == amount and prev.currency == currency and prev.pending == pending:
            self._save(replace(prev, merchant_key=base.merchant_key))
            return
        version = prev.version + 1
        kept = replace(
            base,
            version=version,
            event_external_id=prev.event_external_id,
            kind=prev.kind,
            auth_external_id=prev.auth_external_id,
        )
        if self._amount_change(tx, prev, kept, amount, pending, common):
            return
        if prev.kind == "clearing" and 0 < amount < prev.amount and currency == prev.currency:
            self._emit(
                **_fields(
                    tx,
                    external_id=f"{ref}:adj{version}",
                    kind="refund",
                    amount=prev.amount - amount,
                    original_external_id=prev.event_external_id,
                    **common,
                )
            )
            self._save(kept)
            return
        if prev.kind == "refund" or (prev.kind is None and amount <= 0):
            self._save(kept)  # a changed refund is recorded, not re-applied
            return
        if prev.kind in ("auth", "clearing"):
            self._emit(
                **_fields(
                    tx,
                    external_id=f"{ref}:rev{version}",
                    kind="reversal",
                    amount=abs(prev.amount),
                    currency=prev.currency,
                    original_external_id=prev.event_external_id,
                    card_id=prev.card_id,
                    occurred_at=occurred_at,
                )
            )
        state = replace(kept, event_external_id=None, kind=None)
        self._open(tx, state, f"{ref}:v{version}", amount, pending, common)

    def _amount_change(
        self,
        tx: Any,
        prev: TxState,
        kept: TxState,
        amount: int,
        pending: bool,
        common: dict[str, Any],
    ) -> bool:
        """A purchase cleared at a new, higher amount: the pending transaction itself posted,
        or a posted amount raised. It stays one purchase (a clearing of its auth), so the
        reward is priced again rather than reversed and earned anew against the caps."""
        if pending or amount <= 0 or kept.currency != prev.currency:
            return False
        ref, version = kept.transaction_ref, kept.version
        if prev.kind == "auth" and prev.pending and prev.event_external_id:
            external_id = f"{ref}:v{version}"
            self._emit(
                **_fields(
                    tx,
                    external_id=external_id,
                    kind="clearing",
                    amount=amount,
                    original_external_id=prev.event_external_id,
                    **common,
                )
            )
            auth = prev.event_external_id
            self._save(
                replace(kept, event_external_id=external_id, kind="clearing", auth_external_id=auth)
            )
            return True
        if prev.kind == "clearing" and amount > prev.amount and prev.auth_external_id:
            # The difference is an incremental clearing of the same auth: the purchase is
            # priced again on all its clearings together (within the tip tolerance).
            self._emit(
                **_fields(
                    tx,
                    external_id=f"{ref}:inc{version}",
                    kind="clearing",
                    amount=amount - prev.amount,
                    original_external_id=prev.auth_external_id,
                    **common,
                )
            )
            self._save(kept)
            return True
        return False

    def _open(
        self,
        tx: Any,
        state: TxState,
        external_id: str,
        amount: int,
        pending: bool,
        common: dict[str, Any],
    ) -> None:
        """Emit the event this version of the transaction is (if any) and save its state."""
        kind = self._new_kind(amount, pending)
        if kind is not None:
            original = self._original_for(tx, kind, amount, state.card_id, state)
            self._emit(
                **_fields(
                    tx,
                    external_id=external_id,
                    kind=kind,
                    amount=abs(amount),
                    original_external_id=original,
                    **common,
                )
            )
            auth = original if kind == "clearing" else None
            state = replace(state, event_external_id=external_id, kind=kind, auth_external_id=auth)
        self._save(state)

    @staticmethod
    def _new_kind(amount: int, pending: bool) -> str | None:
        if amount > 0:
            return "auth" if pending else "clearing"
        if amount < 0 and not pending:
            return "refund"
        return None  # zero, or a pending credit (applied once it posts)

    def _original_for(
        self, tx: Any, kind: str, amount: int, card_id: int, state: TxState
    ) -> str | None:
        if kind == "clearing":
            pending_ref = _get(tx, "pending_transaction_id")
            auth = (
                self.states.get(str(pending_ref)) if pending_ref else self._settled_pending(state)
            )
            if auth is None or auth.kind != "auth" or not auth.event_external_id:
                return None  # unknown auth: the pipeline links by card, brand, amount and time
            self.superseded.add(auth.transaction_ref)
            self._save(replace(auth, posted_as=state.transaction_ref))
            return auth.event_external_id
        if kind == "refund":
            candidates = [
                s
                for s in self.states.values()
                if s.card_id == card_id
                and s.kind in ("clearing", "auth")
                and not s.removed
                and s.merchant_key == state.merchant_key
                and s.currency == state.currency
                and s.amount >= -amount
                and s.event_external_id
            ]
            if not candidates:
                return None
            latest = max(
                candidates, key=lambda s: s.occurred_at or datetime.min.replace(tzinfo=UTC)
            )
            return latest.event_external_id
        return None

    def _settled_pending(self, posted: TxState) -> TxState | None:
        """The pending transaction a posted one without `pending_transaction_id` settles:
        same card and currency, an amount from the pending one's to 25% above it, dates within
        the window; the closest amount wins, then the closest time."""
        if posted.occurred_at is None:
            return None
        window = timedelta(days=PENDING_LINK_WINDOW_DAYS)
        found: list[tuple[int, timedelta, str, TxState]] = []
        for s in self.states.values():
            if (
                s.kind != "auth"
                or not s.pending
                or s.posted_as is not None
                or s.transaction_ref in self.superseded
                or s.card_id != posted.card_id
                or s.currency != posted.currency
                or s.occurred_at is None
                or not s.amount <= posted.amount
                or (posted.amount - s.amount) * 10_000 > PENDING_LINK_TOLERANCE_BPS * s.amount
            ):
                continue
            apart = abs(posted.occurred_at - s.occurred_at)
            if apart <= window:
                found.append((posted.amount - s.amount, apart, s.transaction_ref, s))
        return min(found, key=lambda f: f[:3])[3] if found else None

    def _remove(self, ref: str) -> None:
        prev = self.states.get(ref)
        if prev is None or prev.removed:
            return
        gone = replace(prev, removed=True, version=prev.version + 1)
        if (
            ref not in self.superseded
            and prev.posted_as is None  # settled by a posted one in an earlier sync
            and prev.kind in ("auth", "clearing")
            and prev.event_external_id
        ):
            self._emit(
                external_id=f"{ref}:rm{gone.version}",
                kind="reversal",
                card_id=prev.card_id,
                amount=abs(prev.amount),
                currency=prev.currency,
                occurred_at=(prev.occurred_at or self.now).isoformat(),
                original_external_id=prev.event_external_id,
            )
        self._save(gone)
