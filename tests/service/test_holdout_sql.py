"""The database splits a holdout as `matching.offers.in_holdout` does: PostgreSQL with its
sha256, SQLite with the function registered on its connections. Every (offer, member) pair
below gets the same bucket in SQL as in Python, on both databases; about half the hashes have
their top bit set, which PostgreSQL reads as a negative bigint."""

from __future__ import annotations

import hashlib

from sqlalchemy import BigInteger, Column, MetaData, Table, select

from matching.offers import holdout_bucket, in_holdout
from service.attribution.holdout_sql import with_holdout_bucket

OFFERS = [1, 7, 30, 999, 123_456, 2**31 - 1]
MEMBERS = [*range(1, 1_501), 2**31 - 1, 2**40 + 3, 10**15]

_probe = Table("holdout_probe", MetaData(), Column("member_id", BigInteger), prefixes=["TEMPORARY"])


def test_sql_buckets_and_membership_match_python(engine) -> None:
    with engine.begin() as conn:
        _probe.create(conn)
        conn.execute(_probe.insert(), [{"member_id": m} for m in MEMBERS])
        rows = select(_probe.c.member_id).subquery("probe")
        for offer_id in OFFERS:
            bucketed = with_holdout_bucket(conn.dialect.name, rows, offer_id)
            got = dict(conn.execute(select(bucketed.c.member_id, bucketed.c.bucket)).all())
            assert got == {m: holdout_bucket(offer_id, m) for m in MEMBERS}, offer_id
            for bps in (1, 500, 5_000, 9_999):
                control = select(bucketed.c.member_id).where(bucketed.c.bucket < bps)
                assert set(conn.scalars(control)) == {
                    m for m in MEMBERS if in_holdout(offer_id, m, bps)
                }


def test_the_pairs_cover_every_case() -> None:
    """Buckets from one end to the other, and both signs of PostgreSQL's bigint reading."""

    def top_bit_set(offer_id: int, member_id: int) -> bool:
        digest = hashlib.sha256(f"{offer_id}:{member_id}".encode()).digest()
        return digest[0] >= 0x80

    buckets = [holdout_bucket(30, m) for m in MEMBERS]
    assert min(buckets) < 100 and max(buckets) > 9_900
    signs = {top_bit_set(o, m) for o in OFFERS for m in MEMBERS}
    assert signs == {True, False}
