"""Credentials have a life cycle: revoked by `clo keys revoke` or the admin endpoint, expired
by their date, and the development secrets work only in an explicit development setup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from sqlalchemy import Engine

from service.auth import Role, issue_credential
from service.cli import main
from service.config import DEV_ENCRYPTION_KEY, DEV_FEED_KEYS, Settings
from service.security.encryption import EncryptionNotConfigured, secret_box
from tests.service.api_client import api_for, bearer, create_member, in_own_session


def run_cli(*args: str) -> int | str | None:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return exc.value.code


def test_a_key_revoked_by_the_cli_answers_401(engine: Engine, db_url: str, capsys) -> None:
    with api_for(engine) as api:
        key = api.key(Role.FINANCE)
        assert api.get("/v1/settlements/runs", key).status_code == 200
        token = key["Authorization"].removeprefix("Bearer ")
        assert run_cli("keys", "revoke", token.partition(".")[0], "--database", db_url) == 0
        assert "revoked" in capsys.readouterr().out
        resp = api.get("/v1/settlements/runs", key)
        assert resp.status_code == 401
        assert resp.json()["errors"][0]["reason"] == "invalid_credential"
        assert run_cli("keys", "revoke", "ck_0000000000000000", "--database", db_url) == 1


def test_admins_revoke_member_tokens_and_keys_by_endpoint(engine: Engine) -> None:
    with api_for(engine) as api:
        member, member_token = create_member(api)
        key_id = member_token["Authorization"].removeprefix("Bearer ").partition(".")[0]
        path = f"/v1/credentials/{key_id}/revoke"
        for caller in (api.publisher, api.finance, member_token):
            assert api.post(path, caller).status_code == 403
        resp = api.post(path, api.admin)
        assert resp.status_code == 200, resp.text
        assert resp.json()["revoked_at"] is not None
        assert api.get(f"/v1/members/{member['id']}", member_token).status_code == 401
        again = api.post(path, api.admin).json()
        assert again["revoked_at"] == resp.json()["revoked_at"]  # the first revocation stays
        assert api.post("/v1/credentials/ck_ffffffffffffffff/revoke", api.admin).status_code == 404
        assert api.post("/v1/credentials/not-a-key/revoke", api.admin).status_code == 422
        listed = api.get("/v1/credentials?role=member", api.admin).json()["items"]
        assert [c["key_id"] for c in listed] == [key_id]
        assert "secret_sha256" not in listed[0] and "token" not in listed[0]


def test_keys_stop_working_at_their_expiry(engine: Engine) -> None:
    issued = datetime(2026, 11, 1, tzinfo=UTC)
    token = in_own_session(
        engine,
        lambda s: issue_credential(
            s, role=Role.FINANCE, now=issued, expires_at=issued + timedelta(days=30)
        ),
    )
    with api_for(engine) as api:
        with freeze_time(issued + timedelta(days=29)):
            assert api.get("/v1/settlements/runs", bearer(token)).status_code == 200
        with freeze_time(issued + timedelta(days=30)):
            assert api.get("/v1/settlements/runs", bearer(token)).status_code == 401


def test_admins_issue_expiring_merchant_and_publisher_keys(engine: Engine) -> None:
    with api_for(engine) as api:
        merchant = api.post(
            "/v1/merchants", api.admin, {"brand_name": "B", "timezone": "UTC", "currency": "USD"}
        ).json()
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        resp = api.post(f"/v1/merchants/{merchant['id']}/api-keys", api.admin, {"expires_at": past})
        assert resp.status_code == 422
        first = api.post("/v1/publishers/api-keys", api.admin, {"name": "Bank A"})
        assert first.status_code == 201, first.text
        pub = first.json()
        # A second key of the same publisher (rotation) reaches the same members.
        second = api.post(
            "/v1/publishers/api-keys", api.admin, {"publisher_id": pub["publisher_id"]}
        ).json()
        signed_up = api.post("/v1/members", bearer(pub["token"]), {"display_name": "Ada"}).json()
        member_id = signed_up["member"]["id"]
        assert api.get(f"/v1/members/{member_id}", bearer(second["token"])).status_code == 200
        assert api.get(f"/v1/members/{member_id}", api.publisher).status_code == 404
        missing = api.post("/v1/publishers/api-keys", api.admin, {"publisher_id": 999_999})
        assert missing.status_code == 404
        _member, _ = create_member(api)


def test_development_secrets_are_refused_unless_the_environment_says_development() -> None:
    for environment in ("test", "demo", "production"):
        with pytest.raises(ValueError, match="development"):
            Settings(environment=environment, feed_signing_keys=dict(DEV_FEED_KEYS))
        with pytest.raises(ValueError, match="development"):
            Settings(environment=environment, encryption_keys=[DEV_ENCRYPTION_KEY])
    # pydantic-settings' own __init__ takes _env_file; its dataclass_transform typing does not.
    unset = Settings(_env_file=None)  # type: ignore[call-arg]
    assert unset.environment == "production"
    assert unset.feed_signing_keys == {} and unset.encryption_keys == []
    dev = Settings(environment="development")
    assert dev.feed_signing_keys == DEV_FEED_KEYS and dev.encryption_keys == [DEV_ENCRYPTION_KEY]
    # Without a key, what must encrypt a secret answers 503, never stores it plain or 500s.
    with pytest.raises(EncryptionNotConfigured) as refused:
        secret_box(unset)
    assert refused.value.status == 503


def test_secrets_generate_prints_fresh_usable_secrets(capsys, monkeypatch) -> None:
    assert run_cli("secrets", "generate") == 0
    first = capsys.readouterr().out
    assert run_cli("secrets", "generate") == 0
    assert capsys.readouterr().out != first
    for line in first.splitlines():
        name, _, value = line.partition("=")
        monkeypatch.setenv(name, value.strip("'"))
    settings = Settings(environment="demo")
    assert len(settings.encryption_keys) == 1 and len(settings.feed_signing_keys) == 1
