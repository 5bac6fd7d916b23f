"""POST /v1/webhooks/plaid: verified from the Plaid-Verification ES256 JWT, or refused (400)
with no side effect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from fastapi import FastAPI
from sqlalchemy import Engine, func, select

from infra.standins.plaid_standin import PlaidStandin, SigningKey, sign_plaid_jwt
from infra.standins.plaid_standin.webhooks import transactions_webhook_body, webhook_body_bytes
from service.tables import CardEventRow
from tests.service.api_client import Api, assert_problem
from tests.service.plaid_world import link_member, plaid_api, plaid_settings

URL = "/v1/webhooks/plaid"


def post(api: Api, raw: bytes, token: str | None):
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Plaid-Verification"] = token
    return api.client.post(URL, content=raw, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def event_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(CardEventRow.__table__)).scalar_one()


def test_a_verified_sync_webhook_syncs_and_bad_ones_change_nothing(
    engine: Engine, standin: PlaidStandin
) -> None:
    settings = plaid_settings(standin)
    with plaid_api(engine, settings) as api:
        linked = link_member(api, settings)
        standin.add_posted_transaction(linked.access_token, amount=9.5, merchant_name="Kiosk")
        raw = webhook_body_bytes(
            transactions_webhook_body(linked.item_ref, "SYNC_UPDATES_AVAILABLE")
        )
        key = standin.signing_key
        now = int(time.time())

        impostor = SigningKey.generate()
        digest = hashlib.sha256(raw).hexdigest()
        hs_header = b64(json.dumps({"alg": "HS256", "kid": key.kid, "typ": "JWT"}).encode())
        hs_claims = b64(json.dumps({"iat": now, "request_body_sha256": digest}).encode())
        hs_sig = b64(hmac.new(b"secret", f"{hs_header}.{hs_claims}".encode(), "sha256").digest())
        bad = [
            (None, raw, "missing_header"),
            ("not-a-jwt", raw, "malformed"),
            ("a.b.c", raw, "malformed"),
            (sign_plaid_jwt(raw, key, header_overrides={"alg": "none"}), raw, "bad_algorithm"),
            (f"{hs_header}.{hs_claims}.{hs_sig}", raw, "bad_algorithm"),
            (sign_plaid_jwt(raw, key, header_overrides={"kid": "no-such-kid"}), raw, "unknown_key"),
            (sign_plaid_jwt(raw, impostor, header_overrides={"kid": key.kid}), raw,
             "bad_signature"),
            (sign_plaid_jwt(raw, key, iat=now - 301), raw, "stale"),
            (sign_plaid_jwt(raw, key, iat=now + 600), raw, "stale"),
            (sign_plaid_jwt(raw, key), raw + b" ", "body_mismatch"),  # tampered
            (sign_plaid_jwt(raw, key), json.dumps(json.loads(raw)).encode(), "body_mismatch"),
            (sign_plaid_jwt(raw, key, body_sha256="é" * 64), raw, "body_mismatch"),
        ]  # fmt: skip
        for token, body, reason in bad:
            assert_problem(post(api, body, token), 400, "Plaid-Verification", reason)
        # A token cut from a good one with the signature of another message.
        good = sign_plaid_jwt(raw, key)
        other = sign_plaid_jwt(b"{}", key)
        spliced = ".".join([*good.split(".")[:2], other.split(".")[2]])
        assert_problem(post(api, raw, spliced), 400, "Plaid-Verification", "bad_signature")
        assert event_count(engine) == 0  # no side effect

        resp = post(api, raw, good)
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"status": "synced", "accepted": 1}
        assert event_count(engine) == 1
        again = post(api, raw, sign_plaid_jwt(raw, key))
        assert again.json() == {"status": "synced", "accepted": 0}
        app = api.client.app
        assert isinstance(app, FastAPI)
        assert app.state.plaid_keys.fetches == 2  # the real kid once, plus no-such-kid

        # The signing key rotates: the new kid is fetched, the old key still verifies tokens
        # issued before it expired.
        standin.rotate_webhook_key()
        assert post(api, raw, sign_plaid_jwt(raw, standin.signing_key)).status_code == 200
        assert post(api, raw, sign_plaid_jwt(raw, key, iat=now - 5)).status_code == 200

        unknown = webhook_body_bytes(
            transactions_webhook_body("item-unknown", "SYNC_UPDATES_AVAILABLE")
        )
        resp = post(api, unknown, sign_plaid_jwt(unknown, standin.signing_key))
        assert resp.json() == {"status": "ignored", "reason": "unknown_item"}
        not_json = b"[1, 2"
        # The signature is checked over the raw bytes first, then the body is parsed.
        assert_problem(post(api, not_json, sign_plaid_jwt(not_json, standin.signing_key)),
                       400, "body", "invalid_json")  # fmt: skip
        scalar = b"7"
        assert_problem(post(api, scalar, sign_plaid_jwt(scalar, standin.signing_key)),
                       400, "body", "not_a_webhook")  # fmt: skip


def test_item_error_webhook_marks_the_item_for_relink(
    engine: Engine, standin: PlaidStandin
) -> None:
    settings = plaid_settings(standin)
    with plaid_api(engine, settings) as api:
        linked = link_member(api, settings)
        body = {
            "webhook_type": "ITEM",
            "webhook_code": "ERROR",
            "item_id": linked.item_ref,
            "error": {"error_type": "ITEM_ERROR", "error_code": "ITEM_LOGIN_REQUIRED"},
            "environment": "sandbox",
        }
        raw = webhook_body_bytes(body)
        resp = post(api, raw, sign_plaid_jwt(raw, standin.signing_key))
        assert resp.json() == {"status": "relink_required"}
        items = api.get(f"/v1/members/{linked.member_id}/plaid/items", linked.token).json()
        assert items["items"][0]["status"] == "relink_required"
        repaired = webhook_body_bytes({**body, "webhook_code": "LOGIN_REPAIRED", "error": None})
        resp = post(api, repaired, sign_plaid_jwt(repaired, standin.signing_key))
        assert resp.json()["status"] == "synced"
        items = api.get(f"/v1/members/{linked.member_id}/plaid/items", linked.token).json()
        assert items["items"][0]["status"] == "active"
