"""Settlements logic: runs for finance, approval decisions, CSV, payout accounts, donations."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import psycopg
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service.auth import Principal
from service.members.service import member_in_scope
from service.problems import Conflict, InvalidInput, NotFound, Problem
from service.settlements import repository as repo
from service.settlements.schemas import (
    CharityIn,
    CharityOut,
    DecisionOut,
    DonationIn,
    DonationOut,
    PayoutAccountIn,
    PayoutAccountOut,
    RunDetail,
    RunOut,
    StatementLineOut,
    StatementOut,
    StepOut,
)
from service.settlements.tables import Charity, Donation, MemberPayoutAccount
from settlement.ledger.accounts import AccountDirectory
from settlement.runs import records
from settlement.runs.approval import ApprovalError, Decision, decide
from settlement.runs.attempts import ReopenError, reopen_run
from settlement.runs.money import InsufficientBalance, available_amount, donate
from settlement.runs.statements import FIGURES, line_kinds

# One row per kind of line (`line_kinds`): purchases, and the manual adjustments of claims.
CSV_COLUMNS = ("run_id", "period", "merchant_id", "offer_id", "currency", *FIGURES, "line_kind")


def _run(session: Session, run_id: int):
    run = repo.get_run(session, run_id)
    if run is None:
        raise NotFound(f"settlement run {run_id} not found", field="run_id")
    return run


def run_out(row) -> RunOut:
    return RunOut.model_validate(row, from_attributes=True)


def run_detail(session: Session, run_id: int) -> RunDetail:
    run = _run(session, run_id)
    conn = session.connection()
    return RunDetail(
        **run_out(run).model_dump(),
        steps=[
            StepOut.model_validate(s, from_attributes=True) for s in repo.steps(session, run_id)
        ],
        decisions=[
            DecisionOut.model_validate(d, from_attributes=True)
            for d in records.decisions(conn, run_id)
        ],
        invoices=repo.count_invoices(session, run_id),
        payouts=repo.count_payouts(session, run_id),
    )


def statements(session: Session, run_id: int) -> list[StatementOut]:
    _run(session, run_id)
    by_merchant: dict[tuple[int, str], list[StatementLineOut]] = {}
    for line in repo.lines(session, run_id):
        by_merchant.setdefault((line.merchant_id, line.currency), []).append(
            StatementLineOut.model_validate(line, from_attributes=True)
        )
    return [
        StatementOut(
            **{k: v for k, v in s._mapping.items() if k != "run_id"},
            lines=by_merchant.get((s.merchant_id, s.currency), []),
        )
        for s in repo.statements(session, run_id)
    ]


def statements_csv(session: Session, run_id: int) -> str:
    run = _run(session, run_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in repo.lines(session, run_id):
        for kind, figures in line_kinds(line._mapping):
            writer.writerow(
                [run.id, run.period, line.merchant_id, line.offer_id, line.currency]
                + [figures[name] for name in FIGURES]
                + [kind]
            )
    return out.getvalue()


def report(session: Session, run_id: int) -> dict:
    _run(session, run_id)
    row = repo.report(session, run_id)
    if row is None:
        raise NotFound(f"run {run_id} has no report yet", field="run_id", reason="not_reported")
    return {"run_id": run_id, "source": row.source, "report": json.loads(row.body_json)}


def take_decision(
    session: Session,
    principal: Principal,
    run_id: int,
    decision: Decision,
    reason: str,
    *,
    now: datetime,
) -> RunDetail:
    _run(session, run_id)
    try:
        decide(
            session.connection(),
            run_id,
            decision=decision,
            actor=f"{principal.role.value}:credential:{principal.credential_id}",
            reason=reason,
            now=now,
        )
    except ApprovalError as exc:
        raise Conflict(str(exc), field="run_id", reason="not_awaiting_approval") from None
    return run_detail(session, run_id)


def reopen(
    session: Session, principal: Principal, run_id: int, reason: str, *, now: datetime
) -> RunDetail:
    """A rejected run's period, settled again as the next attempt."""
    _run(session, run_id)
    try:
        with session.connection().begin_nested():
            new_id = reopen_run(
                session.connection(),
                run_id,
                actor=f"{principal.role.value}:credential:{principal.credential_id}",
                reason=reason,
                now=now,
            )
    except ReopenError as exc:
        raise Conflict(str(exc), field="run_id", reason="not_reopenable") from None
    except IntegrityError:  # another re-opening of the same attempt won the race
        raise Conflict(
            f"run {run_id} was re-opened already", field="run_id", reason="not_reopenable"
        ) from None
    return run_detail(session, new_id)


def set_payout_account(
    session: Session, principal: Principal, member_id: int, body: PayoutAccountIn, *, now
) -> PayoutAccountOut:
    member_in_scope(session, principal, member_id)
    row = repo.payout_account(session, member_id)
    if row is None:
        row = MemberPayoutAccount(
            member_id=member_id,
            stripe_account_id=body.stripe_account_id,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    else:
        row.stripe_account_id, row.updated_at = body.stripe_account_id, now
    session.flush()
    return PayoutAccountOut(member_id=member_id, stripe_account_id=row.stripe_account_id)


def create_charity(session: Session, body: CharityIn, *, now: datetime) -> CharityOut:
    charity = Charity(name=body.name, stripe_account_id=body.stripe_account_id, created_at=now)
    session.add(charity)
    session.flush()
    assert charity.id is not None
    return CharityOut(id=charity.id, name=charity.name, stripe_account_id=charity.stripe_account_id)


def list_charities(session: Session, *, after_id: int, limit: int) -> list[Charity]:
    return repo.list_charities(session, after_id=after_id, limit=limit)


def _donation_out(session: Session, donation: Donation) -> DonationOut:
    assert donation.id is not None
    available = available_amount(session.connection(), donation.member_id, donation.currency)
    return DonationOut(
        id=donation.id,
        member_id=donation.member_id,
        charity_id=donation.charity_id,
        amount=donation.amount,
        currency=donation.currency,
        available_amount=available,
        created_at=donation.created_at,
    )


def _same_donation(session: Session, request_key: str, body: DonationIn) -> Donation | None:
    """The donation already made under this key, if any; another request's content is 409."""
    existing = repo.donation_by_key(session, request_key)
    if existing is None:
        return None
    if (existing.charity_id, existing.amount, existing.currency) != (
        body.charity_id,
        body.amount,
        body.currency,
    ):
        raise Conflict(
            "this Idempotency-Key was used for another donation",
            field="Idempotency-Key",
            reason="idempotency_conflict",
        )
    return existing


def make_donation(
    session: Session,
    principal: Principal,
    member_id: int,
    body: DonationIn,
    idempotency_key: str,
    *,
    now: datetime,
) -> tuple[DonationOut, bool]:
    """Donate available cashback; the same Idempotency-Key returns the first donation."""
    member_in_scope(session, principal, member_id)
    request_key = f"m{member_id}:{idempotency_key}"
    existing = _same_donation(session, request_key, body)
    if existing is not None:
        return _donation_out(session, existing), False
    if repo.charity(session, body.charity_id) is None:
        raise NotFound(f"charity {body.charity_id} not found", field="charity_id")
    try:
        with session.begin_nested():
            entry_id = donate(
                session.connection(),
                AccountDirectory(),
                request_key=request_key,
                member_id=member_id,
                charity_id=body.charity_id,
                amount=body.amount,
                currency=body.currency,
                now=now,
            )
            donation = Donation(
                member_id=member_id,
                charity_id=body.charity_id,
                currency=body.currency,
                amount=body.amount,
                request_key=request_key,
                entry_id=entry_id,
                created_at=now,
            )
            session.add(donation)
            session.flush()
    except InsufficientBalance as exc:
        # The balance may be gone because a concurrent retry of this very donation took it.
        existing = _same_donation(session, request_key, body)
        if existing is not None:
            return _donation_out(session, existing), False
        raise InvalidInput(str(exc), field="amount", reason="insufficient_available") from None
    except (IntegrityError, psycopg.IntegrityError):
        # A concurrent request with the same key won the race (its ledger entry or donation
        # row is now committed): that one is the first result, returned as a retry would be.
        # (On PostgreSQL the ledger writer uses the driver's COPY: its errors come unwrapped.)
        existing = _same_donation(session, request_key, body)
        if existing is not None:
            return _donation_out(session, existing), False
        # Otherwise another donation took the balance (the no-negative CHECK).
        raise Problem(
            "the donation conflicted with another; retry",
            field="amount",
            reason="conflict",
            status=409,
        ) from None
    return _donation_out(session, donation), True
