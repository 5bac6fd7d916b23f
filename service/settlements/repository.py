"""Every query of the settlements domain."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session, col

from service.settlements.tables import Charity, Donation, MemberPayoutAccount
from settlement.runs.tables import (
    MemberPayout,
    MerchantInvoice,
    SettlementReport,
    SettlementRun,
    SettlementRunStep,
    SettlementStatement,
    SettlementStatementLine,
)

_runs = SettlementRun.__table__
_steps = SettlementRunStep.__table__
_statements = SettlementStatement.__table__
_lines = SettlementStatementLine.__table__
_reports = SettlementReport.__table__
_invoices = MerchantInvoice.__table__
_payouts = MemberPayout.__table__


def list_runs(session: Session, *, after_id: int, limit: int, status: str | None) -> list:
    query = select(_runs).where(_runs.c.id > after_id).order_by(_runs.c.id).limit(limit)
    if status:
        query = query.where(_runs.c.status == status)
    return list(session.connection().execute(query))


def get_run(session: Session, run_id: int):
    return session.connection().execute(select(_runs).where(_runs.c.id == run_id)).first()


def steps(session: Session, run_id: int) -> list:
    return list(
        session.connection().execute(
            select(_steps).where(_steps.c.run_id == run_id).order_by(_steps.c.completed_at)
        )
    )


def count_of(session: Session, table, run_id: int) -> int:
    return (
        session.connection()
        .execute(select(func.count()).select_from(table).where(table.c.run_id == run_id))
        .scalar_one()
    )


def count_invoices(session: Session, run_id: int) -> int:
    return count_of(session, _invoices, run_id)


def count_payouts(session: Session, run_id: int) -> int:
    return count_of(session, _payouts, run_id)


def statements(session: Session, run_id: int) -> list:
    return list(
        session.connection().execute(
            select(_statements)
            .where(_statements.c.run_id == run_id)
            .order_by(_statements.c.merchant_id, _statements.c.currency)
        )
    )


def lines(session: Session, run_id: int) -> list:
    return list(
        session.connection().execute(
            select(_lines)
            .where(_lines.c.run_id == run_id)
            .order_by(_lines.c.merchant_id, _lines.c.currency, _lines.c.offer_id)
        )
    )


def report(session: Session, run_id: int):
    return session.connection().execute(select(_reports).where(_reports.c.run_id == run_id)).first()


def payout_account(session: Session, member_id: int) -> MemberPayoutAccount | None:
    return session.get(MemberPayoutAccount, member_id)


def charity(session: Session, charity_id: int) -> Charity | None:
    return session.get(Charity, charity_id)


def list_charities(session: Session, *, after_id: int, limit: int) -> list[Charity]:
    query = select(Charity).where(col(Charity.id) > after_id).order_by(col(Charity.id)).limit(limit)
    return list(session.scalars(query))


def donation_by_key(session: Session, request_key: str) -> Donation | None:
    return session.scalars(select(Donation).where(col(Donation.request_key) == request_key)).first()
