"""One card-number guard at the HTTP edge: every body whatever its content type says, the
query string, the path and the headers we store; numbers split by any run of separators or
written in full-width digits; and the access log never carries one."""

from __future__ import annotations

import json
import logging

from sqlalchemy import Engine

from tests.service.api_client import PAN, api_for, assert_problem, assert_stored_nowhere

# One number, written the ways a client (or an attacker) might split or disguise it.
SPELLINGS = [
    PAN,
    "4242 4242 4242 4242",
    "4242  4242   4242    4242",
    "4242.4242.4242.4242",
    "4242-4242-4242-4242",
    "4242/4242/4242/4242",
    "4242\u00a04242\u00a04242\u00a04242",  # non-breaking spaces
    "4242 - 4242 . 4242 / 4242",
    "\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12\uff14\uff12",
    "4242\u30004242\u30004242\u30004242",  # ideographic spaces
    "card: 4242-4242-4242-4242 (exp 12/30)",
]
CONTENT_TYPES = [
    "application/json",
    "Application/JSON",
    "APPLICATION/JSON; charset=UTF-8",
    "application/json;charset=utf-8;foo=bar",
    "application/merge-patch+json",
    "text/plain",
    None,
]


def test_every_spelling_is_refused_in_a_body_and_stored_nowhere(engine: Engine) -> None:
    with api_for(engine) as api:
        for spelling in SPELLINGS:
            resp = api.post("/v1/members", api.publisher, {"display_name": spelling})
            assert_problem(resp, 422, "display_name", "card_number_not_allowed")
            assert PAN not in resp.text and spelling not in resp.text
        assert_stored_nowhere(engine, PAN)


def test_the_content_type_does_not_step_around_the_guard(engine: Engine) -> None:
    raw = json.dumps({"display_name": PAN}).encode()
    escaped = b'{"display_name": "' + "".join(f"\\u{ord(c):04x}" for c in PAN).encode() + b'"}'
    with api_for(engine) as api:
        tried = 0
        for body in (raw, escaped, raw.decode().encode("utf-16")):
            for content_type in CONTENT_TYPES:
                headers = dict(api.publisher)
                if content_type is not None:
                    headers["Content-Type"] = content_type
                resp = api.client.post("/v1/members", content=body, headers=headers)
                assert resp.status_code == 422, (content_type, resp.text)
                assert resp.json()["errors"][0]["reason"] == "card_number_not_allowed"
                tried += 1
        assert tried == 21
        assert_stored_nowhere(engine, PAN)


def test_query_strings_paths_and_stored_headers_are_guarded(engine: Engine) -> None:
    with api_for(engine) as api:
        for query in (
            f"status={PAN}",
            f"status=x&status={PAN}",
            f"{PAN}=1",
            "status=4242%204242%204242%204242",
        ):
            resp = api.get(f"/v1/settlements/runs?{query}", api.finance)
            assert resp.status_code == 422, (query, resp.text)
            assert resp.json()["errors"][0]["reason"] == "card_number_not_allowed"
        for path in (f"/v1/members/{PAN}", "/v1/members/4242%20424242424242%204242/balance"):
            resp = api.get(path, api.publisher)
            assert_problem(resp, 422, "path", "card_number_not_allowed")
        for header, value in (
            ("Idempotency-Key", "4242.4242.4242.4242"),
            ("User-Agent", f"bot/{PAN}"),
        ):
            headers = {**api.publisher, header: value}
            resp = api.client.post(
                "/v1/members/1/donations",
                headers=headers,
                json={"charity_id": 1, "amount": 1, "currency": "USD"},
            )
            assert_problem(resp, 422, header, "card_number_not_allowed")


def test_idempotency_keys_have_a_pattern_and_a_length(engine: Engine) -> None:
    with api_for(engine) as api:
        body = {"charity_id": 1, "amount": 1, "currency": "USD"}
        for key in ("a" * 65, "key with spaces", "-leading", "key/slash", ""):
            headers = {**api.publisher, "Idempotency-Key": key}
            resp = api.client.post("/v1/members/1/donations", headers=headers, json=body)
            assert resp.status_code == 422, (key, resp.text)
            assert resp.json()["errors"][0]["field"] == "Idempotency-Key"


def test_the_access_log_names_routes_and_never_a_card_number(engine: Engine, caplog) -> None:
    caplog.set_level(logging.INFO, logger="clo.access")
    with api_for(engine) as api:
        api.get(f"/v1/members/{PAN}", api.publisher)
        api.get(f"/v1/settlements/runs?status={PAN}", api.finance)
        api.get(f"/v1/no-such-route/{PAN}/4242-4242-4242-4242", api.publisher)
        api.get("/v1/members/1", api.publisher)
    lines = [r.__dict__["path"] for r in caplog.records if r.name == "clo.access"]
    assert len(lines) == 4, lines
    assert all(PAN not in line and "4242-4242-4242-4242" not in line for line in lines)
    assert any("/v1/members/{member_id}" in line for line in lines)
    assert any("************4242" in line for line in lines), lines  # unmatched: masked
