"""Card events from a Plaid sync reach /metrics like the network's: the app's pipeline counts
every batch, whoever calls it."""

from __future__ import annotations

from prometheus_client import REGISTRY
from sqlalchemy import Engine

from infra.standins.plaid_standin import PlaidStandin, sign_plaid_jwt
from infra.standins.plaid_standin.webhooks import transactions_webhook_body, webhook_body_bytes
from tests.service.plaid_world import link_member, plaid_api, plaid_settings


def received(source: str) -> float:
    value = REGISTRY.get_sample_value("clo_feed_events_received_total", {"source": source})
    return value or 0.0


def test_a_plaid_webhook_sync_is_counted(engine: Engine, standin: PlaidStandin) -> None:
    settings = plaid_settings(standin)
    with plaid_api(engine, settings) as api:
        linked = link_member(api, settings)
        standin.add_posted_transaction(linked.access_token, amount=9.5, merchant_name="Kiosk")
        standin.add_posted_transaction(linked.access_token, amount=3.25, merchant_name="Kiosk")
        raw = webhook_body_bytes(
            transactions_webhook_body(linked.item_ref, "SYNC_UPDATES_AVAILABLE")
        )
        before = received("plaid")
        resp = api.client.post(
            "/v1/webhooks/plaid",
            content=raw,
            headers={
                "Content-Type": "application/json",
                "Plaid-Verification": sign_plaid_jwt(raw, standin.signing_key),
            },
        )
        assert resp.json() == {"status": "synced", "accepted": 2}
    assert received("plaid") == before + 2
