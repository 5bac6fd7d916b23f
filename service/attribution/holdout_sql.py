"""An offer's holdout split computed by the database: each member's bucket of
`matching.offers.holdout_bucket` (sha256 of "{offer_id}:{member_id}", first 8 bytes as an
unsigned integer, modulo 10,000), so the report never loads the population into Python.

PostgreSQL computes it with its built-in `sha256`; SQLite calls the Python function that
`service.db` registers on every connection. `tests/service/test_holdout_sql.py` holds the two
to the Python definition.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Text, case, cast, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.sql import Subquery

from service.db import SQLITE_HOLDOUT_BUCKET

BPS = 10_000
# 2**64 modulo 10,000: PostgreSQL reads the 8 bytes as a signed bigint, which is the unsigned
# value less 2**64 when the top bit is set.
TWO_TO_THE_64_MOD_BPS = 2**64 % BPS


def with_holdout_bucket(dialect: str, rows: Subquery, offer_id: int) -> Subquery:
    """`rows` (which has a `member_id` column) with each member's `bucket` for the offer.

    A member is in the offer's control group when their bucket is below its `holdout_bps`."""
    member = rows.c.member_id
    if dialect != "postgresql":
        bucket = getattr(func, SQLITE_HOLDOUT_BUCKET)(offer_id, member)
        return select(*rows.c, bucket.label("bucket")).subquery("bucketed")
    key = func.convert_to(
        literal(f"{offer_id}:", Text) + cast(member, Text), literal_column("'UTF8'")
    )
    # The first 8 bytes cut before hex encoding (a quarter of the text to build and parse):
    # about a quarter of the cost per member, most of the rest being sha256 itself.
    first_8 = func.substring(func.sha256(key), 1, 8)
    signed = cast(
        cast(literal("x", Text) + func.encode(first_8, literal_column("'hex'")), BIT(64)),
        BigInteger,
    )
    # OFFSET 0 keeps the planner from pulling the subquery up into the expression below,
    # which names the hash three times: it would then be computed three times a member.
    hashed = select(*rows.c, signed.label("h")).offset(literal_column("0")).subquery("hashed")
    h = hashed.c.h
    bucket = (h % BPS + BPS + case((h < 0, TWO_TO_THE_64_MOD_BPS), else_=0)) % BPS
    return select(*(hashed.c[c.name] for c in rows.c), bucket.label("bucket")).subquery("bucketed")
