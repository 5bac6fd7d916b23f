"""A webhook that finds the database busy answers 503 with Retry-After, never a 500: the
network sends the batch again, and every event is keyed, so nothing is lost or doubled.

SQLite: another process holds the write lock past the busy timeout. PostgreSQL: every pooled
connection is taken (an overloaded server), so the request cannot get one in time.
"""

from __future__ import annotations

import sqlite3

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event

from service.app import create_app
from service.config import Settings
from service.db import make_engine, normalize_url
from tests.service.pipeline_world import PipelineWorld
from tests.service.test_feed_webhook import KEYS, post


def _busy_engine(db_url: str):
    """The app's engine, impatient: a 100 ms busy timeout (SQLite) or one pooled connection
    and a 200 ms wait for it (PostgreSQL)."""
    if db_url.startswith("sqlite"):
        engine = make_engine(db_url)
        event.listen(
            engine,
            "connect",
            lambda conn, _r: conn.execute("PRAGMA busy_timeout=100"),
            insert=False,
        )
        return engine
    return create_engine(normalize_url(db_url), pool_size=1, max_overflow=0, pool_timeout=0.2)


def test_a_busy_database_is_a_503_with_retry_after_and_the_retry_is_stored(engine, db_url):
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10)
    busy = _busy_engine(db_url)
    settings = Settings(environment="test", feed_signing_keys=KEYS)
    with TestClient(create_app(engine=busy, settings=settings)) as client:
        events = [world.event(card=1, amount=4_000, ext="a1")]
        if db_url.startswith("sqlite"):
            holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            release = holder.close
        else:
            taken = busy.connect()
            release = taken.close
        try:
            resp = post(client, events)
        finally:
            release()
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.json()["type"].endswith("database-busy")
        assert resp.headers["Retry-After"] == "1"
        again = post(client, events)
        assert again.status_code == 200, again.text
        assert again.json()["results"][0]["reward_amount"] == 200
    busy.dispose()
