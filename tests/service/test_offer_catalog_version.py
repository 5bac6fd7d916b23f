"""The offer catalog checks one version row per batch, and every write to what it is built
from (offers, their locations, locations, brand aliases, merchants) moves that version,
whoever writes it: the migration's triggers bump it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event, insert, select, update
from sqlmodel import col

from service.offers.catalog import OfferCatalog
from service.tables import BrandAlias, Location, Offer, OfferCatalogVersion
from tests.service.pipeline_world import PipelineWorld


def _version(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(col(OfferCatalogVersion.version))).scalar_one())


def test_an_unchanged_catalog_costs_one_statement(engine: Engine) -> None:
    world = PipelineWorld(engine)
    world.offer(offer_id=10)
    catalog = OfferCatalog()
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    with engine.connect() as conn:
        first = catalog.current(conn)
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert catalog.current(conn) is first
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "offer_catalog_version" in statements[0]


def test_every_catalog_write_moves_the_version(engine: Engine) -> None:
    world = PipelineWorld(engine)  # merchants 1 and 2 with their locations
    catalog = OfferCatalog()
    with engine.connect() as conn:
        catalog.current(conn)
    writes = [
        lambda: world.offer(offer_id=10),
        lambda: world.offer(offer_id=11),
    ]
    for write in writes:
        before = _version(engine)
        write()
        assert _version(engine) > before
    for statement in (
        update(Offer.__table__).where(Offer.__table__.c.id == 10).values(title="New title"),
        insert(BrandAlias.__table__).values(alias="blue bottle coffee", merchant_id=1),
        update(Location.__table__).values(name="Renamed"),
    ):
        before = _version(engine)
        with engine.begin() as conn:
            conn.execute(statement)
        assert _version(engine) > before
    with engine.connect() as conn:
        index = catalog.current(conn)
        assert 10 in catalog.rules and 11 in catalog.rules
        assert catalog.current(conn) is index  # nothing written since: no reload
