"""/healthz answers without the database; /readyz names what keeps the app from serving."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from service.app import create_app
from service.config import Settings
from service.db import make_engine
from tests.service.api_client import assert_problem

SETTINGS = Settings(environment="test")


def test_ready_when_the_database_is_migrated_and_the_catalog_loads(engine: Engine) -> None:
    app = create_app(engine=engine, settings=SETTINGS)
    with TestClient(app) as client:
        assert not app.state.pipeline.catalog.loaded
        assert client.get("/healthz").json() == {"status": "ok"}
        resp = client.get("/readyz")
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"status": "ready"}
        assert app.state.pipeline.catalog.loaded


def test_not_ready_on_an_old_schema(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    with TestClient(create_app(engine=engine, settings=SETTINGS)) as client:
        resp = client.get("/readyz")
        body = assert_problem(resp, 503, "migrations", "not_at_head")
        assert "revision 0001" in body["detail"]
        assert resp.headers["Retry-After"] == "5"
        assert client.get("/healthz").status_code == 200


def test_not_ready_without_a_database_yet_healthy(tmp_path) -> None:
    missing = make_engine(f"sqlite:///{tmp_path / 'nothing-here.db'}")
    with TestClient(create_app(engine=missing, settings=SETTINGS)) as client:
        assert client.get("/healthz").status_code == 200
        assert_problem(client.get("/readyz"), 503, "database", "no_schema")
    unreachable = make_engine("postgresql://nobody@127.0.0.1:1/none", pool=False)
    with TestClient(create_app(engine=unreachable, settings=SETTINGS)) as client:
        assert client.get("/healthz").status_code == 200
        assert_problem(client.get("/readyz"), 503, "database", "unreachable")
