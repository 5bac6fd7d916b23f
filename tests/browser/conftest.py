"""Fixtures of the browser tests: one live app per module and database, one Chromium per
worker, a fresh phone-sized browser context per test.

All browser tests share one xdist group, so one worker runs them and one Chromium shares
the two cores with the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator

import pytest

from service.db import make_engine
from tests.browser.harness import CHROMIUM, LiveApp, launch_chromium, live_app, phone_context
from tests.conftest import _pg_admin, _pg_conninfo


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        # The browser journeys are part of the suite, never skipped: `.ci/run` installs it.
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (as .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ],
)
def live(request, tmp_path_factory) -> Iterator[LiveApp]:
    """The app on a fresh migrated database, with both stand-ins, for the whole module."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("browser") / "clo.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db_url = f"sqlite:///{path}"
        engine = make_engine(db_url)
        with live_app(engine, db_url, "sqlite") as app:
            yield app
        engine.dispose()
        return
    template = request.getfixturevalue("pg_template")
    name = f"clo_b_{uuid.uuid4().hex[:12]}"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    db_url = _pg_conninfo(name)
    engine = make_engine(db_url)
    try:
        with live_app(engine, db_url, "postgres") as app:
            yield app
    finally:
        engine.dispose()
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def phone(chromium):
    """A fresh phone-sized browser context (its own cookies) per test."""
    context = phone_context(chromium)
    yield context
    context.close()
