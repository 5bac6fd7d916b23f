"""Helpers for Plaid tests: the stand-in, an app pointed at it, a linked Item."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography.fernet import Fernet
from fastapi.testclient import TestClient
from plaid.api.plaid_api import PlaidApi
from plaid.model.products import Products
from plaid.model.sandbox_public_token_create_request import SandboxPublicTokenCreateRequest
from plaid.model.sandbox_public_token_create_request_options import (
    SandboxPublicTokenCreateRequestOptions,
)
from sqlalchemy import Engine, select

from infra.standins.plaid_standin import PlaidStandin
from service.app import create_app
from service.auth import Role
from service.config import Settings
from service.linking_tables import PlaidItem
from service.plaid.client import plaid_client
from service.security.encryption import secret_box
from tests.service.api_client import FEED_KEYS, Api, bearer, create_member, issue_key

KEY_1 = Fernet.generate_key().decode()
KEY_2 = Fernet.generate_key().decode()


def plaid_settings(standin: PlaidStandin, *, keys: list[str] | None = None, **kw) -> Settings:
    return Settings(
        environment="test",
        feed_signing_keys=FEED_KEYS,
        plaid_client_id=standin.client_id,
        plaid_secret=standin.secret,
        plaid_host=standin.url,
        encryption_keys=keys or [KEY_1],
        **kw,
    )


@contextmanager
def plaid_api(engine: Engine, settings: Settings) -> Iterator[Api]:
    with TestClient(create_app(engine=engine, settings=settings)) as client:
        yield Api(
            client=client,
            engine=engine,
            admin=bearer(issue_key(engine, role=Role.ADMIN)),
            publisher=bearer(issue_key(engine, role=Role.PUBLISHER)),
            finance=bearer(issue_key(engine, role=Role.FINANCE)),
        )


def sdk(settings: Settings) -> PlaidApi:
    return plaid_client(settings)


def public_token(client: PlaidApi, *, webhook: str | None = None) -> str:
    options = (
        {"options": SandboxPublicTokenCreateRequestOptions(webhook=webhook)} if webhook else {}
    )
    return client.sandbox_public_token_create(
        SandboxPublicTokenCreateRequest(
            institution_id="ins_109508", initial_products=[Products("transactions")], **options
        )
    ).public_token


@dataclass
class LinkedMember:
    member_id: int
    token: dict[str, str]
    item_id: int
    item_ref: str
    access_token: str
    card_id: int  # the credit card account's card
    debit_card_id: int
    body: dict


def link_member(api: Api, settings: Settings, *, display_name: str = "Ada") -> LinkedMember:
    member, token = create_member(api, display_name=display_name)
    resp = api.post(
        f"/v1/members/{member['id']}/plaid/exchange",
        token,
        {"public_token": public_token(sdk(settings))},
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    cards = {c["last4"]: c["id"] for c in body["cards"]}
    with api.engine.connect() as conn:
        item = conn.execute(
            select(PlaidItem.__table__).where(PlaidItem.__table__.c.id == body["item"]["id"])
        ).one()
    access = secret_box(settings).decrypt(item.access_token_encrypted)
    return LinkedMember(
        member["id"], token, item.id, item.item_ref, access, cards["3333"], cards["0000"], body
    )
