"""Merchant billing and member payouts through Stripe: the settlement ports' implementation.

The real `stripe` SDK, pointed at `stripe_api_base` when set (the stand-in in tests and the
demo). Every create carries the idempotency key the run derived, and the key is also put in
the object's metadata (`clo_key`) or transfer group: Stripe forgets keys after 24 hours, so
before creating, the object is looked up by that key, and a call repeated after a crash
finds the first object instead of making a second one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar

import stripe
from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from service.config import Settings
from service.observability.outbound import MeteredStripeHTTPClient
from service.settlements.tables import Charity, MemberPayoutAccount, MerchantBillingAccount
from service.tables import Merchant
from settlement.ledger.bulk import one_of
from settlement.runs.ports import InvoiceLine, ProviderBusy, TransferResult

_billing_accounts = MerchantBillingAccount.__table__
_payout_accounts = MemberPayoutAccount.__table__
_merchants = Merchant.__table__
_charities = Charity.__table__
LOOKUP_LIMIT = 1000  # objects scanned when looking one up by key
# Transfer refusals that are the platform's to fix (fund the balance), not the member's:
# the payout is deferred to the next run.
RETRY_LATER_CODES = frozenset({"balance_insufficient"})
NOT_READY_CODES = frozenset({"insufficient_capabilities_for_transfer", "account_invalid"})

_P = ParamSpec("_P")
_R = TypeVar("_R")


def busy_on_rate_limit(call: Callable[_P, _R]) -> Callable[_P, _R]:
    """A 429 `rate_limit` the SDK does not retry, and a 409 `idempotency_key_in_use` still
    there after its retries (another process is making the same call), stop the step as
    `ProviderBusy`: the run resumes later with the same keys, so nothing is made twice."""

    @functools.wraps(call)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return call(*args, **kwargs)
        except stripe.RateLimitError as exc:
            raise ProviderBusy(f"stripe rate limit: {exc.user_message or exc}") from exc
        except stripe.APIError as exc:
            if exc.http_status != 409:
                raise
            raise ProviderBusy(f"stripe key in use: {exc.user_message or exc}") from exc

    return wrapper


class StripeNotConfigured(RuntimeError):
    pass


class TransferMismatch(RuntimeError):
    """A transfer in a payout's group is not the one the payout would make (amount, currency
    or destination differ). Neither paid nor failed: the payout stays in transit and the run
    stops at this step for a person to look, so nobody is paid twice or to the wrong place."""


def stripe_client(settings: Settings) -> stripe.StripeClient:
    if not settings.stripe_api_key:
        raise StripeNotConfigured("CLO_STRIPE_API_KEY is not set: settlement cannot bill or pay")
    # Each call is timed and counted for /metrics (service.observability.outbound).
    kwargs: dict[str, Any] = {"max_network_retries": 2, "http_client": MeteredStripeHTTPClient()}
    if settings.stripe_api_base:
        base = settings.stripe_api_base.rstrip("/")
        kwargs["base_addresses"] = {"api": base, "files": base, "connect": base}
    return stripe.StripeClient(settings.stripe_api_key, **kwargs)


def _metadata(obj: Any) -> dict[str, str]:
    return dict(obj.to_dict().get("metadata") or {})


def _find(listing: Any, key: str) -> Any | None:
    for n, obj in enumerate(listing.auto_paging_iter()):
        if n >= LOOKUP_LIMIT:
            return None
        if _metadata(obj).get("clo_key") == key:
            return obj
    return None


def _insert_ignore(conn: Connection):
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


class StripeBilling:
    """BillingPort: a customer per merchant, a draft invoice, an item per offer line."""

    def __init__(self, engine: Engine, client: stripe.StripeClient, *, days_until_due: int = 14):
        self.engine = engine
        self.client = client
        self.days_until_due = days_until_due
        # Each invoice's items by key, read once by paging through all of them (an invoice
        # may have more items than a page, or than any scan limit), then kept up to date.
        self._items: dict[str, dict[str, str]] = {}

    def _items_of(self, invoice_ref: str) -> dict[str, str]:
        found = self._items.get(invoice_ref)
        if found is None:
            listing = self.client.v1.invoice_items.list({"invoice": invoice_ref, "limit": 100})
            found = {}
            for item in listing.auto_paging_iter():
                key = _metadata(item).get("clo_key")
                if key:
                    found[key] = item.id
            self._items[invoice_ref] = found
        return found

    @busy_on_rate_limit
    def ensure_customer(self, merchant_id: int, *, idempotency_key: str) -> str:
        with self.engine.begin() as conn:
            found = conn.execute(
                select(_billing_accounts.c.stripe_customer_id).where(
                    _billing_accounts.c.merchant_id == merchant_id
                )
            ).scalar_one_or_none()
            merchant = conn.execute(
                select(_merchants.c.brand_name, _merchants.c.billing_email).where(
                    _merchants.c.id == merchant_id
                )
            ).first()
        if found:
            return found
        brand = merchant.brand_name if merchant is not None else None
        email = merchant.billing_email if merchant is not None else None
        customer = self.client.v1.customers.create(
            {
                "name": brand or f"merchant {merchant_id}",
                # send_invoice emails the invoice: Stripe refuses it for a customer without one
                **({"email": email} if email else {}),
                "metadata": {"clo_merchant_id": str(merchant_id), "clo_key": idempotency_key},
            },
            {"idempotency_key": idempotency_key},
        )
        with self.engine.begin() as conn:
            insert = _insert_ignore(conn)
            conn.execute(
                insert(_billing_accounts)
                .values(
                    merchant_id=merchant_id,
                    stripe_customer_id=customer.id,
                    created_at=datetime.now(UTC),
                )
                .on_conflict_do_nothing(index_elements=["merchant_id"])
            )
            return conn.execute(
                select(_billing_accounts.c.stripe_customer_id).where(
                    _billing_accounts.c.merchant_id == merchant_id
                )
            ).scalar_one()

    @busy_on_rate_limit
    def create_invoice(
        self, customer_ref: str, *, currency: str, description: str, idempotency_key: str
    ) -> str:
        existing = _find(
            self.client.v1.invoices.list({"customer": customer_ref, "limit": 100}),
            idempotency_key,
        )
        if existing is not None:
            return existing.id
        invoice = self.client.v1.invoices.create(
            {
                "customer": customer_ref,
                "currency": currency.lower(),
                "collection_method": "send_invoice",
                "days_until_due": self.days_until_due,
                "pending_invoice_items_behavior": "exclude",
                "auto_advance": False,
                "description": description,
                "metadata": {"clo_key": idempotency_key},
            },
            {"idempotency_key": idempotency_key},
        )
        return invoice.id

    @busy_on_rate_limit
    def add_item(
        self, customer_ref: str, invoice_ref: str, line: InvoiceLine, *, currency: str
    ) -> str:
        items = self._items_of(invoice_ref)
        if line.idempotency_key in items:
            return items[line.idempotency_key]
        item = self.client.v1.invoice_items.create(
            {
                "customer": customer_ref,
                "invoice": invoice_ref,
                "amount": line.amount,
                "currency": currency.lower(),
                "description": line.description,
                "metadata": {"clo_key": line.idempotency_key, "clo_offer_id": str(line.offer_id)},
            },
            {"idempotency_key": line.idempotency_key},
        )
        items[line.idempotency_key] = item.id
        return item.id

    @busy_on_rate_limit
    def finalize_and_send(self, invoice_ref: str, *, idempotency_key: str) -> str | None:
        invoice = self.client.v1.invoices.retrieve(invoice_ref)
        if invoice.status == "draft":
            invoice = self.client.v1.invoices.finalize_invoice(
                invoice_ref, {"auto_advance": False}, {"idempotency_key": f"{idempotency_key}-f"}
            )
        if invoice.status == "open" and not self._already_sent(invoice):
            invoice = self.client.v1.invoices.send_invoice(
                invoice_ref, options={"idempotency_key": idempotency_key}
            )
        return invoice.status

    @busy_on_rate_limit
    def credit_balance(
        self,
        customer_ref: str,
        *,
        amount: int,
        currency: str,
        description: str,
        idempotency_key: str,
    ) -> str:
        """A customer balance credit (a negative balance transaction), found by its key
        among all the customer's balance transactions before one is made."""
        listing = self.client.v1.customers.balance_transactions.list(customer_ref, {"limit": 100})
        for txn in listing.auto_paging_iter():
            if _metadata(txn).get("clo_key") == idempotency_key:
                return str(txn.id)
        txn = self.client.v1.customers.balance_transactions.create(
            customer_ref,
            {
                "amount": -amount,
                "currency": currency.lower(),
                "description": description,
                "metadata": {"clo_key": idempotency_key},
            },
            {"idempotency_key": idempotency_key},
        )
        return str(txn.id)

    def _already_sent(self, invoice: Any) -> bool:
        """Whether Stripe emailed the invoice already (a crash after the send, before the run
        recorded it): its `invoice.sent` event since finalization. Sending again would email
        the merchant a second time, and the idempotency key may have expired."""
        finalized_at = invoice.status_transitions.finalized_at
        if finalized_at is None:
            return False
        events = self.client.v1.events.list(
            {"type": "invoice.sent", "created": {"gte": finalized_at}, "limit": 100}
        )
        for n, event in enumerate(events.auto_paging_iter()):
            if n >= LOOKUP_LIMIT:
                return False
            if event.data.object.id == invoice.id:
                return True
        return False


def refused_transfer(code: str | None, message: str) -> TransferResult:
    """A transfer Stripe refused (nothing was created), in words the member is shown."""
    if code in RETRY_LATER_CODES:
        return TransferResult(
            False, None, "balance_insufficient: paid at the next settlement run", retry_later=True
        )
    if code in NOT_READY_CODES:
        return TransferResult(
            False, None, "account_not_ready: finish setting up your payout account"
        )
    return TransferResult(False, None, f"{code or 'refused'}: {message}"[:200])


def _check_transfer(transfer: Any, *, amount: int, currency: str, destination: str) -> None:
    got = (transfer.amount, str(transfer.currency).lower(), transfer.destination)
    expected = (amount, currency.lower(), destination)
    if got != expected:
        raise TransferMismatch(
            f"transfer {transfer.id} in group {transfer.transfer_group} is "
            f"{got[0]} {got[1]} to {got[2]}, expected {amount} {currency.lower()} to {destination}"
        )


class StripePayouts:
    """PayoutPort: Connect transfers to the member's connected account."""

    def __init__(self, engine: Engine, client: stripe.StripeClient) -> None:
        self.engine = engine
        self.client = client

    def payable(self, conn: Connection, member_ids: list[int]) -> set[int]:
        found: set[int] = set()
        for start in range(0, len(member_ids), 5000):
            chunk = member_ids[start : start + 5000]
            found.update(
                conn.execute(
                    select(_payout_accounts.c.member_id).where(
                        one_of(conn, _payout_accounts.c.member_id, chunk)
                    )
                ).scalars()
            )
        return found

    @busy_on_rate_limit
    def transfer(
        self, member_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        with self.engine.begin() as conn:
            destination = conn.execute(
                select(_payout_accounts.c.stripe_account_id).where(
                    _payout_accounts.c.member_id == member_id
                )
            ).scalar_one_or_none()
        if destination is None:
            return TransferResult(False, None, "no payout account")
        metadata = {"clo_payout_id": str(payout_id)}
        return self._transfer(destination, amount, currency, idempotency_key, metadata)

    def charities_payable(self, conn: Connection, charity_ids: list[int]) -> set[int]:
        if not charity_ids:
            return set()
        return set(
            conn.execute(
                select(_charities.c.id).where(
                    one_of(conn, _charities.c.id, charity_ids),
                    _charities.c.stripe_account_id.is_not(None),
                )
            ).scalars()
        )

    @busy_on_rate_limit
    def transfer_to_charity(
        self, charity_id: int, *, amount: int, currency: str, payout_id: int, idempotency_key: str
    ) -> TransferResult:
        with self.engine.begin() as conn:
            destination = conn.execute(
                select(_charities.c.stripe_account_id).where(_charities.c.id == charity_id)
            ).scalar_one_or_none()
        if destination is None:
            return TransferResult(False, None, "no payout account")
        metadata = {"clo_charity_payout_id": str(payout_id)}
        return self._transfer(destination, amount, currency, idempotency_key, metadata)

    def _transfer(
        self,
        destination: str,
        amount: int,
        currency: str,
        group: str,
        metadata: dict[str, str],
    ) -> TransferResult:
        """One transfer, found by its group (the key) before one is made."""
        found = list(
            self.client.v1.transfers.list({"transfer_group": group, "limit": 10}).auto_paging_iter()
        )
        if len(found) > 1:
            raise TransferMismatch(f"{len(found)} transfers in group {group}, expected one")
        if found:
            transfer = found[0]
            _check_transfer(transfer, amount=amount, currency=currency, destination=destination)
        else:
            try:
                transfer = self.client.v1.transfers.create(
                    {
                        "amount": amount,
                        "currency": currency.lower(),
                        "destination": destination,
                        "transfer_group": group,
                        "metadata": {**metadata, "clo_key": group},
                    },
                    {"idempotency_key": group},
                )
            except stripe.InvalidRequestError as exc:
                return refused_transfer(exc.code, exc.user_message or str(exc))
        if transfer.reversed:
            return TransferResult(False, transfer.id, "transfer reversed")
        return TransferResult(True, transfer.id, None)
