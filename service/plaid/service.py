"""Plaid Link: a link token for the member's browser, the public token exchanged for an
access token (stored encrypted), and the Item's card accounts registered as cards."""

from __future__ import annotations

import hashlib
from datetime import datetime

import plaid
from plaid.api.plaid_api import PlaidApi
from plaid.model.accounts_get_request import AccountsGetRequest
from plaid.model.country_code import CountryCode
from plaid.model.item_public_token_exchange_request import ItemPublicTokenExchangeRequest
from plaid.model.link_token_create_request import LinkTokenCreateRequest
from plaid.model.link_token_create_request_user import LinkTokenCreateRequestUser
from plaid.model.products import Products
from sqlmodel import Session, col, select

from service.cards import service as cards
from service.cards.schemas import CardCreate, CardOut
from service.config import Settings
from service.linking_tables import PlaidAccount, PlaidItem
from service.merchants.common import add_unique
from service.plaid.client import error_info, upstream
from service.plaid.schemas import LinkedItemOut, LinkTokenOut, PlaidItemOut
from service.problems import Conflict, InvalidInput, NotFound
from service.security.encryption import secret_box
from service.tables import Card, Member

PROVIDER = "plaid"
# Accounts that carry a card: credit cards, and checking / prepaid accounts (debit cards).
CARD_ACCOUNTS = {"credit": None, "depository": frozenset({"checking", "prepaid", "debit"})}
MAX_ACCOUNTS = 50


def plaid_fingerprint(item_ref: str, account_ref: str) -> str:
    return "plaid_" + hashlib.sha256(f"{item_ref}:{account_ref}".encode()).hexdigest()[:40]


def create_link_token(
    session: Session,
    client: PlaidApi,
    settings: Settings,
    member: Member,
    *,
    item_id: int | None,
) -> LinkTokenOut:
    fields: dict = {
        "client_name": "CLO",
        "language": "en",
        "country_codes": [CountryCode("US")],
        "user": LinkTokenCreateRequestUser(client_user_id=f"member-{member.id}"),
    }
    if item_id is not None:  # update mode: the member repairs the Item's login
        item = item_in_scope(session, member, item_id)
        fields["access_token"] = secret_box(settings).decrypt(item.access_token_encrypted)
    else:
        fields["products"] = [Products("transactions")]
    if settings.plaid_webhook_url:
        fields["webhook"] = settings.plaid_webhook_url
    try:
        found = client.link_token_create(LinkTokenCreateRequest(**fields))
    except plaid.ApiException as exc:
        raise upstream(exc) from None
    return LinkTokenOut(link_token=found.link_token, expiration=found.expiration)


def _is_card_account(account) -> bool:
    kind = str(account.type)
    if kind not in CARD_ACCOUNTS:
        return False
    subtypes = CARD_ACCOUNTS[kind]
    return subtypes is None or str(getattr(account, "subtype", None)) in subtypes


def exchange_public_token(
    session: Session,
    client: PlaidApi,
    settings: Settings,
    member: Member,
    public_token: str,
    *,
    now: datetime,
) -> tuple[LinkedItemOut, bool]:
    """Exchange, fetch accounts, store the Item (token encrypted) and its card accounts."""
    assert member.id is not None
    box = secret_box(settings)
    try:
        exchanged = client.item_public_token_exchange(
            ItemPublicTokenExchangeRequest(public_token=public_token)
        )
    except plaid.ApiException as exc:
        if error_info(exc).error_code == "INVALID_PUBLIC_TOKEN":
            raise InvalidInput(
                "the public token is invalid, expired or already used",
                field="public_token",
                reason="invalid_public_token",
            ) from None
        raise upstream(exc) from None
    try:
        found = client.accounts_get(AccountsGetRequest(access_token=exchanged.access_token))
    except plaid.ApiException as exc:
        raise upstream(exc) from None
    item_ref = str(exchanged.item_id)
    item = session.exec(select(PlaidItem).where(PlaidItem.item_ref == item_ref)).first()
    created = item is None
    if item is not None and item.member_id != member.id:
        raise Conflict(
            "this Item is linked to another member", field="public_token", reason="item_taken"
        )
    if item is None:
        item = PlaidItem(
            member_id=member.id,
            item_ref=item_ref,
            access_token_encrypted=box.encrypt(exchanged.access_token),
            institution_id=getattr(found.item, "institution_id", None),
            created_at=now,
            updated_at=now,
        )
        add_unique(session, item, field="public_token", detail="this Item is already linked")
    else:
        item.access_token_encrypted = box.encrypt(exchanged.access_token)
        item.status, item.error_code, item.updated_at = "active", None, now
        session.add(item)
    session.flush()
    assert item.id is not None
    linked: list[Card] = []
    for account in list(found.accounts)[:MAX_ACCOUNTS]:
        mask = str(getattr(account, "mask", None) or "")
        if not _is_card_account(account) or not (len(mask) == 4 and mask.isdigit()):
            continue
        account_ref = str(account.account_id)
        card, _ = cards.register_card(
            session,
            member,
            CardCreate(
                provider_token=f"plaid:{account_ref}"[:255],
                fingerprint=plaid_fingerprint(item_ref, account_ref),
                brand="unknown",
                last4=mask,
            ),
            provider=PROVIDER,
            now=now,
        )
        assert card.id is not None
        if session.get(PlaidAccount, account_ref) is None:
            session.add(PlaidAccount(account_ref=account_ref, item_id=item.id, card_id=card.id))
        linked.append(card)
    session.flush()
    return (
        LinkedItemOut(
            item=item_out(item),
            cards=[CardOut.model_validate(c, from_attributes=True) for c in linked],
        ),
        created,
    )


def item_out(item: PlaidItem) -> PlaidItemOut:
    return PlaidItemOut.model_validate(item, from_attributes=True)


def item_in_scope(session: Session, member: Member, item_id: int) -> PlaidItem:
    item = session.get(PlaidItem, item_id)
    if item is None or item.member_id != member.id:
        raise NotFound(f"Plaid item {item_id} not found", field="item_id")
    return item


def list_items(session: Session, member: Member, *, after_id: int, limit: int) -> list[PlaidItem]:
    query = (
        select(PlaidItem)
        .where(PlaidItem.member_id == member.id, col(PlaidItem.id) > after_id)
        .order_by(col(PlaidItem.id))
        .limit(limit)
    )
    return list(session.exec(query))
