"""Rejected inputs: kept with their reason, as evidence with every card number masked.

What is kept is a rendering of the input, never the bytes as they came: a JSON value is masked
after decoding (so `\\u0034\\u0031...` escapes or a number given as a JSON integer are caught),
and text that could not be decoded has its JSON escapes resolved before masking.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from matching.events import Source
from service.feeds.records import RawRecord
from service.security.card_numbers import mask_card_numbers
from service.tables import RejectedEvent

_rejected = RejectedEvent.__table__
EVIDENCE_MAX_CHARS = 4000
DETAIL_MAX_CHARS = 500
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why one input was not accepted."""

    index: int  # position in the batch
    record: RawRecord
    field: str
    reason: str
    detail: str
    external_id: str | None = None


def masked_value(value: object) -> object:
    """A decoded JSON value with every card number in its strings and integers masked."""
    if isinstance(value, str):
        return mask_card_numbers(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        text = str(value)
        masked = mask_card_numbers(text)
        return value if masked == text else masked
    if isinstance(value, dict):
        return {str(masked_value(str(k))): masked_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked_value(v) for v in value]
    return mask_card_numbers(str(value))


def evidence(record: RawRecord) -> str:
    """What is kept of a rejected input: masked, NUL escaped (PostgreSQL text refuses it)."""
    if record.fields is not None:
        text = json.dumps(masked_value(record.fields), ensure_ascii=False, default=str)
    else:
        unescaped = _JSON_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), record.raw_text)
        text = mask_card_numbers(unescaped)
    return text.replace("\x00", "\\u0000")


def write_rejections(
    conn: Connection, source: Source, now: datetime, rejections: list[Rejection]
) -> None:
    """Keep each rejection once: the same input rejected again is not stored twice."""
    if not rejections:
        return
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = []
    for r in rejections:
        kept = evidence(r.record)
        values.append(
            {
                "source": source.value,
                "external_id": mask_card_numbers(r.external_id) if r.external_id else None,
                "field": r.field,
                "reason": r.reason,
                "detail": mask_card_numbers(r.detail).replace("\x00", "\\u0000")[:DETAIL_MAX_CHARS],
                # Of the masked rendering: no digest of a card number is kept either.
                "raw_sha256": hashlib.sha256(kept.encode()).hexdigest(),
                "raw_redacted": kept[:EVIDENCE_MAX_CHARS],
                "received_at": now,
            }
        )
    conn.execute(
        insert(_rejected).on_conflict_do_nothing(index_elements=["source", "raw_sha256"]),
        values,
    )
