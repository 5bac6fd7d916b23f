"""The ledger entries of settlement: payouts, merchant cash receipts, donations.

Each is keyed by the object it belongs to, so a step resumed after a crash, or a webhook
delivered twice, writes nothing twice.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select

from settlement.ledger.accounts import AccountDirectory, AccountKind, account_code
from settlement.ledger.writer import Entry, EntryStatus, Posting, post_entry
from settlement.tables import LedgerAccount

_accounts = LedgerAccount.__table__


class InsufficientBalance(Exception):
    pass


def _payout_entry(
    payout_id: int,
    member_id: int,
    run_id: int,
    now: datetime,
    *,
    step: str,
    kind: str,
    moved: tuple[tuple[AccountKind, int | None], tuple[AccountKind, int | None]],
    amount: int,
    currency: str,
    memo: str,
) -> Entry:
    """One step of a payout: `amount` moves from the first account of `moved` to the second,
    keyed by payout and step."""
    (source, source_owner), (target, target_owner) = moved
    return Entry(
        idempotency_key=f"payout:{payout_id}:{step}",
        kind=kind,
        status=EntryStatus.POSTED,
        currency=currency,
        postings=(Posting(source, source_owner, -amount), Posting(target, target_owner, amount)),
        effective_at=now,
        member_id=member_id,
        run_id=run_id,
        memo=memo,
    )


_IN_TRANSIT = (AccountKind.PLATFORM_PAYOUTS_IN_TRANSIT, None)
_CASH = (AccountKind.PLATFORM_CASH, None)


def payout_reserve(
    payout_id: int, member_id: int, amount: int, currency: str, run_id: int, now: datetime
) -> Entry:
    """Available cashback leaves the member for the payout: available -> in transit."""
    available = (AccountKind.MEMBER_AVAILABLE, member_id)
    return _payout_entry(
        payout_id, member_id, run_id, now, step="reserve", kind="payout",
        moved=(available, _IN_TRANSIT), amount=amount, currency=currency,
        memo=f"payout {payout_id}",
    )  # fmt: skip


def payout_settled(
    payout_id: int, member_id: int, amount: int, currency: str, run_id: int, now: datetime
) -> Entry:
    """The transfer went out: in transit -> platform cash (cash decreases)."""
    return _payout_entry(
        payout_id, member_id, run_id, now, step="settle", kind="payout",
        moved=(_IN_TRANSIT, _CASH), amount=amount, currency=currency,
        memo=f"payout {payout_id} transferred",
    )  # fmt: skip


def payout_returned(
    payout_id: int, member_id: int, amount: int, currency: str, run_id: int, now: datetime
) -> Entry:
    """The transfer failed: the money goes back to the member's available balance."""
    available = (AccountKind.MEMBER_AVAILABLE, member_id)
    return _payout_entry(
        payout_id, member_id, run_id, now, step="return", kind="payout_return",
        moved=(_IN_TRANSIT, available), amount=amount, currency=currency,
        memo=f"payout {payout_id} failed",
    )  # fmt: skip


def payout_reversed(
    payout_id: int, member_id: int, amount: int, currency: str, run_id: int, now: datetime
) -> Entry:
    """A settled transfer came back (reversed by the provider): cash -> member available."""
    available = (AccountKind.MEMBER_AVAILABLE, member_id)
    return _payout_entry(
        payout_id, member_id, run_id, now, step="reversed", kind="payout_return",
        moved=(_CASH, available), amount=amount, currency=currency,
        memo=f"payout {payout_id} reversed",
    )  # fmt: skip


def record_cash_receipt(
    conn: Connection,
    directory: AccountDirectory,
    *,
    invoice_ref: str,
    merchant_id: int,
    amount: int,
    currency: str,
    run_id: int | None,
    paid_at: datetime,
    now: datetime,
) -> int:
    """The merchant paid an invoice: platform cash (debit) against its receivable."""
    entry = Entry(
        idempotency_key=f"invoice:{invoice_ref}:paid",
        kind="cash_receipt",
        status=EntryStatus.POSTED,
        currency=currency,
        postings=(
            Posting(AccountKind.PLATFORM_CASH, None, -amount),
            Posting(AccountKind.MERCHANT_RECEIVABLE, merchant_id, amount),
        ),
        effective_at=paid_at,
        merchant_id=merchant_id,
        run_id=run_id,
        memo=f"invoice {invoice_ref} paid",
    )
    return post_entry(conn, directory, entry, now)


def available_amount(conn: Connection, member_id: int, currency: str) -> int:
    code = account_code(AccountKind.MEMBER_AVAILABLE, member_id, currency)
    value = conn.execute(
        select(_accounts.c.posted_amount).where(_accounts.c.code == code)
    ).scalar_one_or_none()
    return int(value or 0)


def donate(
    conn: Connection,
    directory: AccountDirectory,
    *,
    request_key: str,
    member_id: int,
    charity_id: int,
    amount: int,
    currency: str,
    now: datetime,
) -> int:
    """Move available cashback to charity:{id}:payable. Refused beyond the available balance."""
    if amount <= 0:
        raise ValueError("a donation is a positive amount")
    entry = Entry(
        idempotency_key=f"donation:{request_key}",
        kind="donation",
        status=EntryStatus.POSTED,
        currency=currency,
        postings=(
            Posting(AccountKind.MEMBER_AVAILABLE, member_id, -amount),
            Posting(AccountKind.CHARITY_PAYABLE, charity_id, amount),
        ),
        effective_at=now,
        member_id=member_id,
        memo=f"donation to charity {charity_id}",
    )
    available = available_amount(conn, member_id, currency)
    if available < amount:
        raise InsufficientBalance(f"available {available} is less than {amount}")
    return post_entry(conn, directory, entry, now)
