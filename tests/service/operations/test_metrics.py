"""/metrics: counters that equal what was ingested, histograms by route template, admins
only."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from service.auth import Role
from tests.service.api_client import (
    PAN,
    Api,
    api_for,
    assert_problem,
    card_event,
    create_location,
    create_member,
    create_merchant,
    create_offer,
    push_events,
    register_card,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def api(engine: Engine) -> Iterator[Api]:
    with api_for(engine) as a:
        yield a


def scrape(api: Api) -> Samples:
    resp = api.get("/metrics", api.admin)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_equal_what_a_known_feed_brought(api: Api) -> None:
    merchant = create_merchant(api)
    create_location(api, merchant_id=merchant["id"], mid="MID-BB-1")
    create_offer(api, merchant_id=merchant["id"], publish=True, rate_bps=500)
    member, _ = create_member(api)
    card = register_card(api, member_id=member["id"])
    rewarded = card_event(card_id=card["id"], kind="clearing", external_id="m-rewarded")
    elsewhere = card_event(card_id=card["id"], external_id="m-elsewhere", mid="MID-NOWHERE")
    malformed = card_event(card_id=card["id"], external_id="m-bad")
    malformed["kind"] = "chargeback"
    no_amount = card_event(card_id=card["id"], external_id="m-no-amount")
    del no_amount["amount"]

    before = scrape(api)
    first = push_events(api, rewarded, elsewhere, malformed, no_amount)
    again = push_events(api, rewarded)  # the same event once more: a duplicate
    after = scrape(api)

    assert (first["accepted"], first["rejected"], again["duplicate"]) == (2, 2, 1)
    reasons = [r["reason"] for r in first["results"] if r["status"] == "rejected"]
    net = {"source": "network"}
    assert grew(before, after, "clo_feed_events_received_total", **net) == 5
    assert grew(before, after, "clo_feed_events_accepted_total", **net) == 2
    assert grew(before, after, "clo_feed_events_duplicate_total", **net) == 1
    for reason in set(reasons):
        assert grew(
            before, after, "clo_feed_events_rejected_total", reason=reason, **net
        ) == reasons.count(reason)
    assert grew(before, after, "clo_rewards_total", outcome="rewarded") == 1
    assert grew(before, after, "clo_rewards_total", outcome="no_offer") == 1
    assert grew(before, after, "clo_feed_batch_events_count", **net) == 2  # two requests
    assert grew(before, after, "clo_feed_batch_events_sum", **net) == 5
    # API latency by route template, never the raw path
    route = {"method": "POST", "route": "/v1/feeds/network/events", "status": "200"}
    assert grew(before, after, "clo_http_request_duration_seconds_count", **route) == 2


def test_request_latency_is_labelled_by_template_and_never_a_raw_path(api: Api) -> None:
    api.get(f"/v1/members/{PAN}", api.publisher)
    api.get("/v1/members/123456", api.publisher)
    text = api.get("/metrics", api.admin).text
    assert PAN not in text and "123456" not in text
    assert 'route="/v1/members/{member_id}"' in text


def test_metrics_are_for_admins_only(api: Api) -> None:
    assert_problem(api.client.get("/metrics"), 401, "Authorization", "missing_credential")
    merchant_id = create_merchant(api)["id"]
    for role in (Role.PUBLISHER, Role.FINANCE, Role.MERCHANT):
        headers = api.key(role, merchant_id=merchant_id if role is Role.MERCHANT else None)
        assert_problem(api.get("/metrics", headers), 403, "Authorization", "role_not_allowed")
    assert api.get("/metrics", api.admin).status_code == 200
