"""Databases for tests: every database test runs on SQLite and on PostgreSQL.

Each test gets a fresh database copied from a migrated template (a file copy on SQLite,
CREATE DATABASE ... TEMPLATE on PostgreSQL), so no test sees what another left behind.
In CI PostgreSQL is required: an unreachable server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from service.db import make_engine
from service.schema import upgrade

# Two xdist workers share two cores with PostgreSQL: timings vary, so no deadlines and no
# "too slow" health check (a property test asserts behaviour, never speed).
settings.register_profile(
    "clo", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.load_profile("clo")

PG_ADMIN_URL = os.environ.get("CLO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_conninfo(dbname: str | None = None) -> str:
    base = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    if dbname is None:
        return base
    return base.rsplit("/", 1)[0] + "/" + dbname


def _pg_available() -> str | None:
    try:
        with psycopg.connect(_pg_conninfo(), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except psycopg.Error as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


PG_PROBLEM = _pg_available()


def pytest_collection_modifyitems(config, items):
    if PG_PROBLEM is None:
        return
    if IN_CI:
        raise pytest.UsageError(f"PostgreSQL is required in CI but unreachable: {PG_PROBLEM}")
    marker = pytest.mark.skip(reason=f"PostgreSQL unreachable here ({PG_PROBLEM}); CI requires it")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(marker)


def pytest_generate_tests(metafunc):
    if "db_url" in metafunc.fixturenames:
        metafunc.parametrize(
            "db_url",
            [
                pytest.param("sqlite", id="sqlite"),
                pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
            ],
            indirect=True,
        )


def _pg_admin(sql: str) -> None:
    with psycopg.connect(_pg_conninfo(), autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"clo_tpl_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}"')
    engine = make_engine(_pg_conninfo(name), pool=False)
    upgrade(engine)
    engine.dispose()
    yield name
    _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_url(request, tmp_path) -> Iterator[str]:
    """A fresh, migrated database URL: parametrized over SQLite and PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "clo.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    yield request.getfixturevalue("pg_url")


@pytest.fixture
def pg_url(pg_template) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database URL, for what only PostgreSQL has (mark the test
    `postgres`)."""
    name = f"clo_t_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    try:
        yield _pg_conninfo(name)
    finally:
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(db_url) -> Iterator[Engine]:
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
