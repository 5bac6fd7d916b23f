"""Runs settle by booking time: a purchase is billed in the period in which its accrual
became posted in the ledger, whatever the date of the purchase. Worked example, with the
numbers written out, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, select

from matching.lifecycle import RewardTerms
from settlement.ledger.accounts import AccountDirectory
from settlement.ledger.check import check_ledger
from settlement.rewards import RewardBook, RewardRecord, RewardState
from settlement.runs.periods import iso_week
from settlement.runs.ports import InvoiceLine, Ports, TransferResult
from settlement.runs.runner import RunSettings, SettlementRunner
from settlement.runs.statements import compute_statements
from settlement.runs.tables import MerchantInvoice, SettlementStatement, SettlementStatementLine
from settlement.tables import LedgerAccount, LedgerDailyBooking, LedgerEntry
from tests.balances import balances

W46, W47 = iso_week("2026-W46"), iso_week("2026-W47")  # Mon 2026-11-09, Mon 2026-11-16
MERCHANT, OFFER, MEMBER = 3, 11, 7


class Billing:
    def __init__(self) -> None:
        self.items: list[tuple[str, int]] = []

    def ensure_customer(self, merchant_id: int, *, idempotency_key: str) -> str:
        return f"cus_{merchant_id}"

    def create_invoice(
        self, customer_ref: str, *, currency: str, description: str, idempotency_key: str
    ) -> str:
        return f"in_{idempotency_key}"

    def add_item(
        self, customer_ref: str, invoice_ref: str, line: InvoiceLine, *, currency: str
    ) -> str:
        self.items.append((invoice_ref, line.amount))
        return f"ii_{line.idempotency_key}"

    def finalize_and_send(self, invoice_ref: str, *, idempotency_key: str) -> str:
        return "open"

    def credit_balance(
        self, customer_ref: str, *, amount: int, currency: str, description: str,
        idempotency_key: str,
    ) -> str:  # fmt: skip
        return f"cbtxn-{idempotency_key}"


class Payouts:
    def payable(self, conn: Connection, member_ids: list[int]) -> set[int]:
        return set()

    def charities_payable(self, conn: Connection, charity_ids: list[int]) -> set[int]:
        return set()

    def transfer_to_charity(
        self, charity_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        raise AssertionError("no charity is payable here")

    def transfer(
        self, member_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        return TransferResult(False, None, "no payouts in this test")  # pragma: no cover


def purchase(reward_id: int, *, spend: int, reward: int, commission: int, at: datetime):
    return RewardRecord(
        id=reward_id,
        member_id=MEMBER,
        offer_id=OFFER,
        merchant_id=MERCHANT,
        currency="USD",
        state=RewardState.AUTHORIZED,
        auth_event_id=None,
        clearing_event_id=None,
        spend_amount=spend,
        reward_amount=reward,
        commission_amount=commission,
        occurred_at=at,
        hold_days=60,  # nothing matures in these weeks
    )


def ingest(engine, directory, now: datetime, fn) -> None:
    """One unit of work of the feed, processed at `now` (its booking time)."""
    with engine.begin() as conn:
        book = RewardBook(now=now)
        fn(conn, book)
        book.flush(conn, directory)


def settle(engine, billing: Billing, period, now: datetime):
    runner = SettlementRunner(engine, Ports(billing, Payouts()), RunSettings())
    outcome = runner.settle(period, now)
    assert outcome.status == "closed"
    with engine.connect() as conn:
        run_id = outcome.run_id
        statement = conn.execute(
            select(SettlementStatement.__table__).where(
                SettlementStatement.__table__.c.run_id == run_id
            )
        ).one()
        line = conn.execute(
            select(SettlementStatementLine.__table__).where(
                SettlementStatementLine.__table__.c.run_id == run_id
            )
        ).one()
        invoice = conn.execute(
            select(MerchantInvoice.__table__.c.amount).where(
                MerchantInvoice.__table__.c.run_id == run_id
            )
        ).scalar_one()
    return statement, line, invoice


def test_an_auth_in_week_46_cleared_in_week_47_is_billed_once_in_week_47(engine):
    d = AccountDirectory()
    # W46, Tue 2026-11-10: a cleared purchase, $100.00 at 5%: cashback 500, commission 125.
    tue = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    cleared = purchase(2, spend=10_000, reward=500, commission=125, at=tue)
    cleared.state = RewardState.CLEARED
    ingest(engine, d, tue, lambda c, b: b.open(cleared, event_id=20, auth_expiry_days=7))
    # W46, Thu 2026-11-12: an auth for $40.00 at 5%: cashback 200, commission 50, pending.
    thu = datetime(2026, 11, 12, 18, 0, tzinfo=UTC)
    auth = purchase(1, spend=4_000, reward=200, commission=50, at=thu)
    ingest(engine, d, thu, lambda c, b: b.open(auth, event_id=10, auth_expiry_days=7))
    # W46, Fri 2026-11-13: an auth for $20.00 (cashback 100, commission 25), reversed on
    # Tue 2026-11-17 (W47): never billed.
    fri = datetime(2026, 11, 13, 9, 0, tzinfo=UTC)
    reversed_auth = purchase(3, spend=2_000, reward=100, commission=25, at=fri)
    ingest(engine, d, fri, lambda c, b: b.open(reversed_auth, event_id=30, auth_expiry_days=7))

    # Monday 2026-11-16 03:00: W46 is settled while the $40.00 auth is still pending.
    billing = Billing()
    statement46, line46, invoice46 = settle(
        engine, billing, W46, datetime(2026, 11, 16, 3, 0, tzinfo=UTC)
    )
    assert (line46.qualified_count, line46.spend_amount) == (1, 10_000)
    assert (line46.cashback_amount, line46.commission_amount, line46.net_amount) == (500, 125, 625)
    assert statement46.net_amount == invoice46 == 625
    assert statement46.receivable_movement_amount == -625

    # Tue 2026-11-17 (W47): the auth clears at the same amount (its pending entry posts,
    # keeping its purchase date in W46) and the $20.00 auth is reversed.
    tue47 = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)

    def clear_and_reverse(conn, book) -> None:
        records = book.load(conn, {1, 3})
        book.clear(records[1], RewardTerms(4_000, 200, 50), event_id=11, at=tue47)
        book.void(records[3], reason="reversal", at=tue47)

    ingest(engine, d, tue47, clear_and_reverse)
    with engine.connect() as conn:
        entry = conn.execute(
            select(LedgerEntry.__table__).where(LedgerEntry.__table__.c.reward_id == 1)
        ).one()
    assert W46.contains(entry.effective_at)  # dated in W46 ...
    assert W46.contains(entry.created_at)  # ... written (pending) in W46, posted in W47

    # Monday 2026-11-23 03:00: W47 bills the $40.00 purchase: 200 + 50 = 250, once.
    statement47, line47, invoice47 = settle(
        engine, billing, W47, datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    )
    assert (line47.qualified_count, line47.spend_amount) == (1, 4_000)
    assert (line47.cashback_amount, line47.commission_amount, line47.net_amount) == (200, 50, 250)
    assert statement47.net_amount == invoice47 == 250
    assert statement47.receivable_movement_amount == -250

    # Over the two runs: 625 + 250 = 875, the whole posted movement of the receivable (the
    # reversed auth never posted), and each purchase was billed once.
    receivable = balances(engine)[f"merchant:{MERCHANT}:receivable:USD"]
    assert receivable == (-875, 0)
    assert invoice46 + invoice47 == 875 == -receivable[0]
    assert sorted(amount for _, amount in billing.items) == [250, 625]

    # The daily booking rollup the statements read: the cleared purchase on the day it was
    # written (Tue 11-10), the $40.00 auth on the day it posted (Tue 11-17), neither auth on
    # the day it was written pending, the reversed one never. Members' accounts are left
    # out (their side is minus the rest); the receivable is debited, revenue credited.
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                LedgerDailyBooking.__table__.c.booked_on,
                LedgerAccount.__table__.c.code,
                LedgerDailyBooking.__table__.c.kind,
                LedgerDailyBooking.__table__.c.offer_id,
                LedgerDailyBooking.__table__.c.merchant_id,
                LedgerDailyBooking.__table__.c.postings,
                LedgerDailyBooking.__table__.c.amount,
            )
            .join(LedgerAccount.__table__)
            .order_by(LedgerDailyBooking.__table__.c.booked_on, LedgerAccount.__table__.c.code)
        ).all()
        report = check_ledger(conn)
    receivable, revenue = f"merchant:{MERCHANT}:receivable:USD", "platform:revenue:USD"
    assert [tuple(r) for r in rows] == [
        (date(2026, 11, 10), receivable, "accrual", OFFER, MERCHANT, 1, -625),
        (date(2026, 11, 10), revenue, "accrual", OFFER, MERCHANT, 1, 125),
        (date(2026, 11, 17), receivable, "accrual", OFFER, MERCHANT, 1, -250),
        (date(2026, 11, 17), revenue, "accrual", OFFER, MERCHANT, 1, 50),
    ]
    assert report.balanced, report.lines()  # the rollup agrees with the postings


def test_statements_cover_whole_utc_days(engine):
    start = datetime(2026, 11, 9, 0, 0, tzinfo=UTC)
    with engine.begin() as conn, pytest.raises(ValueError, match="midnight UTC"):
        compute_statements(conn, 1, start, start + timedelta(days=6, hours=12), start)
