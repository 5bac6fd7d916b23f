"""Linking through Plaid: exchange, cards from accounts, the access token encrypted at rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.fernet import InvalidToken
from sqlalchemy import Engine, select

from infra.standins.plaid_standin import PlaidStandin
from service.config import DEV_ENCRYPTION_KEY, Settings
from service.linking_tables import PlaidItem
from service.plaid.sync import sync_item
from service.security.encryption import EncryptionNotConfigured, secret_box
from service.security.rotation import rotate_secrets
from tests.service.api_client import assert_problem, create_member
from tests.service.plaid_world import (
    KEY_1,
    KEY_2,
    link_member,
    plaid_api,
    plaid_settings,
    public_token,
    sdk,
)


def test_exchange_stores_the_item_and_makes_cards_of_card_accounts(
    engine: Engine, standin: PlaidStandin
) -> None:
    settings = plaid_settings(standin)
    with plaid_api(engine, settings) as api:
        member, token = create_member(api)
        resp = api.post(f"/v1/members/{member['id']}/plaid/link-token", token)
        assert resp.status_code == 200, resp.text
        assert resp.json()["link_token"].startswith("link-sandbox-")

        linked = link_member(api, settings)
        cards = sorted((c["last4"], c["provider"], c["brand"]) for c in linked.body["cards"])
        assert cards == [("0000", "plaid", "unknown"), ("3333", "plaid", "unknown")]
        assert linked.body["item"]["status"] == "active"
        items = api.get(f"/v1/members/{linked.member_id}/plaid/items", linked.token).json()
        assert [i["id"] for i in items["items"]] == [linked.item_id]
        # Another member sees nothing of it.
        assert api.get(f"/v1/members/{linked.member_id}/plaid/items", token).status_code == 404

        # A used public token, a malformed one, unknown fields.
        base = f"/v1/members/{member['id']}/plaid/exchange"
        used = public_token(sdk(settings))
        assert api.post(base, token, {"public_token": used}).status_code == 201
        assert_problem(
            api.post(base, token, {"public_token": used}),
            422,
            "public_token",
            "invalid_public_token",
        )
        assert api.post(base, token, {"public_token": "a b"}).status_code == 422
        assert api.post(base, token, {"public_token": "x", "status": "active"}).status_code == 422
        assert api.post(base, api.finance, {"public_token": "x"}).status_code == 403
        # Update mode for an Item of another member is not found.
        assert_problem(
            api.post(
                f"/v1/members/{member['id']}/plaid/link-token", token, {"item_id": linked.item_id}
            ),
            404,
            "item_id",
            "not-found",
        )


def test_access_tokens_are_encrypted_at_rest_and_rotate(
    engine: Engine, db_url: str, standin: PlaidStandin
) -> None:
    old = plaid_settings(standin, keys=[KEY_1])
    with plaid_api(engine, old) as api:
        first = link_member(api, old)
        second = link_member(api, old, display_name="Bob")
    standin.add_posted_transaction(first.access_token, amount=12.5, merchant_name="Kiosk")

    if engine.dialect.name == "sqlite":
        engine.dispose()  # checkpoint the WAL into the file
        path = Path(engine.url.database or "")
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        for access in (first.access_token, second.access_token):
            assert access.encode() not in raw
        assert b"access-sandbox" not in raw

    # Rotation: the new key in front, every row re-encrypted, then the old key removed.
    both = plaid_settings(standin, keys=[KEY_2, KEY_1])
    assert rotate_secrets(engine, secret_box(both)) == 2
    only_new = plaid_settings(standin, keys=[KEY_2])
    with engine.connect() as conn:
        stored = conn.execute(select(PlaidItem.__table__.c.access_token_encrypted)).scalars().all()
    assert sorted(secret_box(only_new).decrypt(t) for t in stored) == sorted(
        [first.access_token, second.access_token]
    )
    with pytest.raises(InvalidToken):
        secret_box(plaid_settings(standin, keys=[KEY_1])).decrypt(stored[0])
    result = sync_item(engine, sdk(only_new), first.item_id, _now(), settings=only_new)
    assert (result.status, result.summary.accepted) == ("synced", 1)


def test_the_development_key_is_refused_outside_development(standin: PlaidStandin) -> None:
    with pytest.raises(ValueError, match="development encryption key"):
        plaid_settings(standin, keys=[DEV_ENCRYPTION_KEY])
    assert secret_box(Settings(environment="development")).decrypt(
        secret_box(Settings(environment="development")).encrypt("x")
    )
    with pytest.raises(ValueError, match="encryption key"):
        Settings(
            environment="production",
            feed_signing_keys={"k": "x" * 40},
            encryption_keys=[DEV_ENCRYPTION_KEY],
            database_url="postgresql://db/clo",
        )
    with pytest.raises(EncryptionNotConfigured):
        secret_box(plaid_settings(standin, keys=["not-a-fernet-key"]))


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


def test_cli_rotates_keys_and_syncs_every_item(
    engine: Engine, db_url: str, standin: PlaidStandin, monkeypatch, capsys
) -> None:
    from service.cli import main
    from service.config import get_settings

    settings = plaid_settings(standin, keys=[KEY_1])
    with plaid_api(engine, settings) as api:
        linked = link_member(api, settings)
    standin.add_posted_transaction(linked.access_token, amount=3.25, merchant_name="Kiosk")
    monkeypatch.setenv("CLO_ENVIRONMENT", "test")
    monkeypatch.setenv("CLO_PLAID_CLIENT_ID", standin.client_id)
    monkeypatch.setenv("CLO_PLAID_SECRET", standin.secret)
    monkeypatch.setenv("CLO_PLAID_HOST", standin.url)

    def run(*args: str, keys: list[str]) -> int | str | None:
        monkeypatch.setenv("CLO_ENCRYPTION_KEYS", json.dumps(keys))
        get_settings.cache_clear()
        try:
            with pytest.raises(SystemExit) as exc:
                main([*args, "--database", db_url])
        finally:
            get_settings.cache_clear()
        return exc.value.code

    assert run("keys", "rotate", keys=[KEY_2, KEY_1]) == 0
    assert "re-encrypted 1 secrets" in capsys.readouterr().out
    assert run("plaid", "sync", keys=[KEY_2]) == 0  # the old key is gone: still decrypts
    out = capsys.readouterr().out
    assert "synced" in out and "accepted      1" in out and "1 items synced" in out
