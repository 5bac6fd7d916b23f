"""Feed events against the columns they land in, and card numbers in rejected lines.

Every field is driven to its limit (stored whole) and one past it (that event alone is
rejected with its field and reason; the rest of the batch commits), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import text

from matching.events import Source
from service.feeds.records import read_ndjson
from tests.service.pipeline_world import T0, PipelineWorld

PAN = "4111111111111111"
ESCAPED_PAN = "".join(f"\\u{ord(c):04x}" for c in PAN)

# field -> (longest value accepted, reason for one more character)
TEXT_LIMITS = {
    "external_id": 128,
    "original_external_id": 128,
    "mid": 64,
    "acquirer_id": 64,
    "descriptor": 255,
    "merchant_name": 255,
    "mcc": 8,
    "country": 3,
    "postal_code": 16,
    "brand_hint": 255,
}


@pytest.fixture
def world(engine) -> PipelineWorld:
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.offer(offer_id=10)
    return w


def stored(world: PipelineWorld, sql: str) -> list[tuple]:
    with world.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


@pytest.mark.parametrize("field", sorted(TEXT_LIMITS))
def test_each_text_field_is_stored_whole_at_its_limit_and_refused_past_it(world, field):
    limit = TEXT_LIMITS[field]
    kind = "refund" if field == "original_external_id" else "auth"
    at_limit = world.event(kind, card=1, amount=1_000, ext="at-limit", original="x")
    at_limit[field] = "7" * limit if field != "external_id" else "e" * limit
    past = world.event(kind, card=1, amount=1_000, ext="past", original="x")
    past[field] = "8" * (limit + 1)
    neighbour = world.event(card=1, amount=2_000, ext="neighbour")
    first, second, third = world.ingest(at_limit, past, neighbour)
    assert first.status == "accepted"
    assert (second.status, second.field, second.reason) == ("rejected", field, "field_too_long")
    assert third.status == "accepted"
    [(value,)] = stored(world, f"SELECT {field} FROM card_event WHERE id = {first.event_id}")
    assert value == at_limit[field]  # not cut
    assert stored(world, "SELECT count(*) FROM card_event") == [(2,)]


def test_numbers_past_their_columns_are_refused(world):
    events = [
        world.event(card=1, amount=10**12, ext="max-amount"),
        world.event(card=1, amount=10**12 + 1, ext="amount-past"),
        world.event(card=2**31 - 1, amount=1_000, ext="max-card"),
        world.event(card=2**31, amount=1_000, ext="card-past"),
        world.event(card=2**63, amount=1_000, ext="card-far-past"),
        world.event(card=1, amount=1_000, ext="fine"),
    ]
    outcomes = world.ingest(*events)
    assert [o.status for o in outcomes] == [
        "accepted",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "accepted",
    ]
    assert [o.reason for o in outcomes[1:5]] == [
        "invalid_amount",
        "unknown_card",
        "invalid_card_id",
        "invalid_card_id",
    ]


def test_an_escaped_card_number_in_ndjson_is_found_after_decoding_and_never_stored(world):
    good = world.event(card=1, amount=1_000, ext="ok")
    escaped = json.dumps(world.event(card=1, amount=1_000, ext="esc", descriptor="x")).replace(
        '"descriptor": "x"', f'"descriptor": "REFUND {ESCAPED_PAN}"'
    )
    broken = f'{{"external_id": "broken", "descriptor": "{ESCAPED_PAN}", '
    as_integer = json.dumps(world.event(card=1, amount="12.50", ext="int", note=int(PAN)))
    data = "\n".join([json.dumps(good), escaped, broken, as_integer]).encode()
    records = list(read_ndjson(io.BytesIO(data)))
    outcomes = world.pipeline.ingest_batch(records, Source.FILE, T0)
    assert [(o.status, o.reason) for o in outcomes] == [
        ("accepted", None),
        ("rejected", "card_number_not_allowed"),
        ("rejected", "invalid_json"),
        ("rejected", "unknown_field"),  # its "note" holds the card number as a number
    ]
    kept = stored(world, "SELECT raw_redacted, detail, external_id FROM rejected_event")
    dump = repr(kept) + repr(stored(world, "SELECT * FROM card_event"))
    assert len(kept) == 3
    for form in (PAN, ESCAPED_PAN, ESCAPED_PAN.lower(), ESCAPED_PAN.replace("\\", "\\\\")):
        assert form not in dump
    assert all("************1111" in raw for raw, _, _ in kept)


def test_an_unknown_field_is_refused_by_name_with_a_message_and_the_rest_commits(world):
    # A misspelt optional field ("merchant_nmae") would otherwise vanish without a word.
    good = world.event(card=1, amount=4_000, ext="ok-1")
    typo = world.event(card=1, amount=4_000, ext="typo-1", merchant_nmae="Blue Bottle")
    ok, bad = world.ingest(good, typo)
    assert (ok.status, ok.reward_amount) == ("accepted", 200)
    assert (bad.status, bad.field, bad.reason) == ("rejected", "merchant_nmae", "unknown_field")
    assert bad.message == "'merchant_nmae' is not a card event field"
    assert bad.as_dict()["message"] == bad.message
    with world.engine.connect() as conn:
        kept = conn.execute(text("SELECT field, reason FROM rejected_event")).all()
    assert [tuple(r) for r in kept] == [("merchant_nmae", "unknown_field")]
