"""What a settlement run needs from outside, as small protocols `service` implements.

Every call carries an idempotency key derived from the run and the party; implementations
pass it to the provider and, where the provider forgets keys (Stripe after 24 h), look the
object up by the key stored in its metadata before creating another.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Connection


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    offer_id: int
    amount: int
    description: str
    idempotency_key: str


class BillingPort(Protocol):
    def ensure_customer(self, merchant_id: int, *, idempotency_key: str) -> str:
        """The provider's customer for the merchant (created once, its id stored)."""
        ...

    def create_invoice(
        self, customer_ref: str, *, currency: str, description: str, idempotency_key: str
    ) -> str:
        """A draft invoice that takes only the items added to it."""
        ...

    def add_item(
        self, customer_ref: str, invoice_ref: str, line: InvoiceLine, *, currency: str
    ) -> str: ...

    def finalize_and_send(self, invoice_ref: str, *, idempotency_key: str) -> str | None:
        """Finalize and send the invoice; returns its status (None where the provider
        reports none)."""
        ...

    def credit_balance(
        self,
        customer_ref: str,
        *,
        amount: int,
        currency: str,
        description: str,
        idempotency_key: str,
    ) -> str:
        """Credit `amount` (> 0) to the customer, taken off its next invoice; returns the
        provider's id of the credit."""
        ...


@dataclass(frozen=True, slots=True)
class TransferResult:
    ok: bool
    transfer_ref: str | None = None
    failure_reason: str | None = None
    # Not the member's fault and not for good (the platform's balance was short): the money
    # goes back to available and the next run pays it.
    retry_later: bool = False


class ProviderBusy(Exception):
    """The provider asked to slow down (a rate limit): the step stops where it is, and the
    run resumes later with the same idempotency keys, so nothing is done twice."""


class CharityPayoutPort(Protocol):
    def charities_payable(self, conn: Connection, charity_ids: list[int]) -> set[int]:
        """Charities that have a connected account to be paid to."""
        ...

    def transfer_to_charity(
        self, charity_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        """Pay the charity; refusals are `ok=False` as for members."""
        ...


class PayoutPort(CharityPayoutPort, Protocol):
    def payable(self, conn: Connection, member_ids: list[int]) -> set[int]:
        """Members that have somewhere to be paid, read in the caller's transaction (the one
        that plans the payouts)."""
        ...

    def transfer(
        self, member_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        """Pay the member; a refused or reversed transfer is `ok=False`, never an exception
        (a rate limit is `ProviderBusy`: nothing was decided)."""
        ...


class ReportPort(Protocol):
    source: str

    def build(
        self,
        conn: Connection,
        *,
        period_start: datetime,
        period_end: datetime,
        offer_ids: list[int] | None,
    ) -> Any:
        """A JSON-serializable attribution report for the period."""
        ...


@dataclass(slots=True)
class Ports:
    billing: BillingPort
    payouts: PayoutPort
    report: ReportPort | None = None  # None: the run's own per-offer summary
