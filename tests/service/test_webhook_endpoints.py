"""Webhook endpoints through the API: tenant walls, URL rules, the published event schema."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from service.auth import Role
from service.webhooks.urls import AddressRefused, check_url
from tests.service.api_client import Api, api_for, assert_problem

PUBLIC = "https://93.184.215.14/hooks"  # an address on the public internet (no DNS needed)


def register(api: Api, headers: dict, **body) -> dict:
    resp = api.post("/v1/webhook-endpoints", headers, {"url": PUBLIC, "event_types": ["*"], **body})
    assert resp.status_code == 201, resp.text
    return resp.json()


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.215.14/hooks", "https_required"),
        ("ftp://93.184.215.14/hooks", "https_required"),
        ("https://127.0.0.1/hooks", "loopback_address"),
        ("https://[::1]/hooks", "loopback_address"),
        ("https://169.254.169.254/latest/meta-data", "link_local_address"),
        ("https://10.1.2.3/hooks", "private_address"),
        ("https://192.168.0.10/hooks", "private_address"),
        ("https://[::ffff:10.0.0.1]/hooks", "private_address"),
        ("https://224.0.0.1/hooks", "multicast_address"),
        ("https://240.0.0.1/hooks", "private_address"),
        ("https://0.0.0.0/hooks", "private_address"),
        ("https://user:pw@93.184.215.14/hooks", "credentials_in_url"),
        ("https://no-such-host.invalid/hooks", "unresolvable"),
    ],
)
def test_urls_that_could_reach_inside_are_refused_naming_the_field(
    engine: Engine, url: str, reason: str
) -> None:
    with api_for(engine) as api:
        resp = api.post("/v1/webhook-endpoints", api.publisher, {"url": url, "event_types": ["*"]})
        assert_problem(resp, 422, "url", reason)
        # ... and when changing an endpoint's URL.
        endpoint = register(api, api.publisher)
        resp = api.patch(f"/v1/webhook-endpoints/{endpoint['id']}", api.publisher, {"url": url})
        assert_problem(resp, 422, "url", reason)


def test_a_name_with_any_inner_address_is_refused() -> None:
    with pytest.raises(AddressRefused) as refused:
        check_url(
            "https://hooks.partner.test/in",
            allow_local_http=False,
            resolver=lambda host, port: ["93.184.215.14", "10.0.0.8"],
        )
    assert refused.value.reason == "private_address"
    target = check_url(
        "https://hooks.partner.test:8443/in",
        allow_local_http=False,
        resolver=lambda host, port: ["93.184.215.14"],
    )
    assert (target.host, target.port, target.address) == (
        "hooks.partner.test",
        8443,
        "93.184.215.14",
    )


def test_local_http_is_for_development_and_tests_only() -> None:
    from service.config import Settings

    with pytest.raises(ValueError, match="webhook_allow_local_http"):
        Settings(environment="production", webhook_allow_local_http=True)
    assert Settings(environment="test", webhook_allow_local_http=True).webhook_allow_local_http


def test_a_publisher_reaches_only_its_own_endpoints(engine: Engine) -> None:
    with api_for(engine) as api:
        other = api.key(Role.PUBLISHER)
        mine = register(api, api.publisher, description="ours")
        theirs = register(api, other)
        admins = register(api, api.admin)
        assert mine["secret"].startswith("whsec_") and mine["key_id"] == f"we_{mine['id']}"
        assert mine["status"] == "enabled" and mine["pending_deliveries"] == 0

        listed = api.get("/v1/webhook-endpoints", api.publisher).json()["items"]
        assert [e["id"] for e in listed] == [mine["id"]]
        assert all("secret" not in e for e in listed)  # shown once, at creation
        everyone = api.get("/v1/webhook-endpoints", api.admin).json()["items"]
        assert [e["id"] for e in everyone] == [mine["id"], theirs["id"], admins["id"]]

        for target in (theirs, admins):
            path = f"/v1/webhook-endpoints/{target['id']}"
            assert_problem(api.get(path, api.publisher), 404, "endpoint_id", "not-found")
            assert api.patch(path, api.publisher, {"description": "x"}).status_code == 404
            assert api.post(path + "/rotate-secret", api.publisher).status_code == 404
            replay = {"since_event_id": "evt_000000000001"}
            assert api.post(path + "/replay", api.publisher, replay).status_code == 404
            assert api.delete(path, api.publisher).status_code == 404
        assert api.get(f"/v1/webhook-endpoints/{theirs['id']}", other).status_code == 200

        # Roles that own no endpoints are refused outright.
        assert api.get("/v1/webhook-endpoints", api.finance).status_code == 403

        path = f"/v1/webhook-endpoints/{mine['id']}"
        changed = api.patch(path, api.publisher, {"event_types": ["reward.posted", "card.linked"]})
        assert changed.json()["event_types"] == ["card.linked", "reward.posted"]
        assert api.delete(path, api.publisher).status_code == 204
        assert api.get(path, api.publisher).status_code == 404


def test_bad_input_is_a_problem_naming_the_field(engine: Engine) -> None:
    with api_for(engine) as api:
        resp = api.post(
            "/v1/webhook-endpoints", api.publisher, {"url": PUBLIC, "event_types": ["reward.won"]}
        )
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"].startswith(
            "event_types"
        )
        resp = api.post("/v1/webhook-endpoints", api.publisher, {"url": PUBLIC, "event_types": []})
        assert resp.json()["errors"][0]["field"] == "event_types"
        resp = api.post(
            "/v1/webhook-endpoints",
            api.publisher,
            {"url": PUBLIC, "event_types": ["*"], "status": "enabled"},
        )
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "status"
        endpoint = register(api, api.publisher)
        resp = api.post(
            f"/v1/webhook-endpoints/{endpoint['id']}/replay",
            api.publisher,
            {"event_id": "42"},
        )
        assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "event_id"


def test_the_event_schema_is_published_beside_the_openapi(engine: Engine) -> None:
    with api_for(engine) as api:
        resp = api.client.get("/v1/webhook-events/schema")
    assert resp.status_code == 200
    schema = resp.json()
    assert schema["x-schema-version"] == 1
    types = {branch["$ref"].rsplit("/", 1)[1] for branch in schema["oneOf"]}
    assert len(types) == len(schema["x-event-types"]) == 16
    card = schema["$defs"]["CardLinkedData"]["properties"]
    assert "last4" not in card and "display_name" not in card
    envelope = schema["$defs"]["RewardPostedEvent"]
    assert envelope["required"] == ["id", "type", "created", "schema_version", "data"]
    assert envelope["properties"]["type"]["const"] == "reward.posted"
