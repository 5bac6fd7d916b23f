"""A card number sent anywhere a client can put text: every string field of every request
body, every query parameter, every path parameter, the stored headers, every free-text feed
field. Each is refused (422 card_number_not_allowed, or the feed event rejected), and then the
database files themselves (SQLite's WAL included; PostgreSQL's relation files where this
machine can read them) and everything logged are searched: the number is in none of them."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, text

from service.routing import IDENTIFIER_FIELDS
from tests.security.world import build_world, sample_body
from tests.service.api_client import api_for, assert_stored_nowhere, card_event, push_events

PAN = "4000056655665556"  # Luhn-valid Visa debit test number, used nowhere else
SPELLINGS = [
    PAN,
    "4000 0566 5566 5556",
    "4000.0566.5566.5556",
    "4000-0566-5566-5556",
    "4000/0566/5566/5556",
    "4000\u00a00566\u00a05566\u00a05556",
    "".join(chr(0xFF10 + int(d)) for d in PAN),  # full-width digits
]
WEBHOOKS = {"/v1/webhooks/stripe", "/v1/webhooks/plaid", "/v1/feeds/network/events"}
FEED_FREE_TEXT = ("descriptor", "merchant_name", "brand_hint", "channel", "country", "currency")


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf"):
        for option in schema.get(key, ()):
            resolved = _resolve(spec, option)
            if resolved.get("type") == "object" or "properties" in resolved:
                return resolved
    return schema


def _string_fields(spec: dict, op: dict) -> list[str]:
    """Top-level body fields that take text (strings, enums, nullable strings)."""
    content = op.get("requestBody", {}).get("content", {}).get("application/json")
    if not content:
        return []
    schema = _resolve(spec, content["schema"])
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kinds = json.dumps(prop)
        if name not in IDENTIFIER_FIELDS and ('"string"' in kinds or "$ref" in kinds):
            fields.append(name)
    return fields


def _refused(resp) -> bool:
    return (
        resp.status_code == 422 and resp.json()["errors"][0]["reason"] == "card_number_not_allowed"
    )


def _needles() -> list[bytes]:
    found = {s.encode() for s in SPELLINGS} | {s.encode("utf-16-le") for s in SPELLINGS[:1]}
    return sorted(found)


def _pg_relation_files(engine: Engine) -> list[Path]:
    """The database's own files, after a checkpoint, if this process can read them."""
    with engine.connect() as conn:
        conn.execute(text("CHECKPOINT"))
        data = Path(conn.execute(text("SHOW data_directory")).scalar_one())
        oid = conn.execute(
            text("SELECT oid FROM pg_database WHERE datname = current_database()")
        ).scalar_one()
    base = data / "base" / str(oid)
    try:
        return [p for p in base.iterdir() if p.is_file()]
    except OSError:
        return []


def test_a_card_number_sent_anywhere_is_stored_and_logged_nowhere(
    engine: Engine, db_url: str, caplog, capfd
) -> None:
    caplog.set_level(logging.DEBUG)
    tried = refused = 0
    with api_for(engine) as api:
        world = build_world(api)
        app = api.client.app
        assert isinstance(app, FastAPI)
        spec = app.openapi()
        for path, ops in spec["paths"].items():
            if path in WEBHOOKS:
                continue
            url = path.format(**{k: v for k, v in world.ids.items() if "{" + k + "}" in path})
            for method, op in ops.items():
                method = method.upper()
                attempts: list[dict[str, Any]] = []
                for i, name in enumerate(_string_fields(spec, op)):
                    body = dict(sample_body(method, path, world) or {})
                    body[name] = SPELLINGS[i % len(SPELLINGS)]
                    attempts.append({"json": body})
                for i, param in enumerate(op.get("parameters", [])):
                    spelling = SPELLINGS[i % len(SPELLINGS)]
                    if param["in"] == "query" and param["name"] not in IDENTIFIER_FIELDS:
                        attempts.append({"params": {param["name"]: spelling}})
                    elif param["in"] == "path":
                        # (A slash would split the segment: no route, nothing stored.)
                        values = {k: v for k, v in world.ids.items() if "{" + k + "}" in path}
                        values[param["name"]] = spelling.replace("/", "-")
                        attempts.append({"url": path.format(**values)})
                for header in ("Idempotency-Key", "User-Agent"):
                    attempts.append({"headers": {header: f"x {SPELLINGS[2]}"}})
                for attempt in attempts:
                    headers = {**api.admin, "Idempotency-Key": "k1", **attempt.get("headers", {})}
                    resp = api.client.request(
                        method,
                        attempt.get("url", url),
                        headers=headers,
                        json=attempt.get("json", sample_body(method, path, world)),
                        params=attempt.get("params"),
                    )
                    tried += 1
                    assert _refused(resp), (method, path, attempt, resp.status_code, resp.text)
                    assert PAN not in resp.text
                    refused += 1
        card_id = world.ids["card_id"]
        for i, name in enumerate(FEED_FREE_TEXT):
            event = card_event(card_id=card_id, external_id=f"ev-pan-{i}")
            event[name] = SPELLINGS[i % 6]  # ASCII and NBSP spellings (escapes: the feed's own)
            result = push_events(api, event)["results"][0]
            tried += 1
            # Stored text must be refused; the rest is refused by its format or not kept
            # (the scans below show which: the number must be nowhere).
            if name in ("descriptor", "merchant_name"):
                assert result["status"] == "rejected", (name, result)
            refused += 1
    engine.dispose()
    assert_stored_nowhere(engine, PAN)
    files: list[Path] = []
    if db_url.startswith("sqlite"):
        db = Path(db_url.removeprefix("sqlite:///"))
        files = [p for p in (db, Path(f"{db}-wal")) if p.exists()]
        assert files, "the SQLite database files were not found"
    else:
        files = _pg_relation_files(engine)
    needles = _needles()
    for path in files:
        data = path.read_bytes()
        assert not any(n in data for n in needles), f"{path} holds the card number"
    # What the server logged (the test client's own httpx lines name the URLs it sent).
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(f"{r.name}: {r.getMessage()}" for r in server)
    logged += "".join(capfd.readouterr())
    leaks = [
        line
        for line in logged.splitlines()
        if any(n.decode("utf-8", "ignore") in line for n in needles)
    ]
    assert not leaks, leaks[:5]
    print(f"card numbers sent: {tried}, refused: {refused}; files scanned: {len(files)}")
    assert tried == refused and tried > 150
