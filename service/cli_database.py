"""Which database a `clo` command works on, and one clear line when it cannot.

The URL is `--database`, else `CLO_DATABASE_URL`, else the last database `clo demo` made
(remembered in `.clo-last-database` in the working directory), else the default
`sqlite:///./clo.db`. A command that needs the schema checks first that the database exists
and is migrated to the newest revision; if not, it prints one line and exits 2, and never
creates an empty SQLite file by opening it.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from service.db import normalize_url

LAST_DATABASE_FILE = Path(".clo-last-database")
DEFAULT_URL = "sqlite:///./clo.db"
HINT = "run `clo db upgrade` or `make demo`"


class DatabaseUnusable(Exception):
    """The database is missing, unreachable or not migrated: the message is the one line."""


def remember_demo_database(url: str) -> None:
    LAST_DATABASE_FILE.write_text(url + "\n", encoding="utf-8")


def resolve_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    if env := os.environ.get("CLO_DATABASE_URL"):
        return env
    if LAST_DATABASE_FILE.is_file():
        remembered = LAST_DATABASE_FILE.read_text(encoding="utf-8").strip()
        if remembered:
            return remembered
    return DEFAULT_URL


def shown(url: str) -> str:
    """The URL without its password, fit to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def newest_revision() -> str:
    from alembic.script import ScriptDirectory

    from service.schema import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def require_migrated(url: str) -> None:
    """Raise `DatabaseUnusable` unless the database exists and is at the newest revision."""
    normalized = normalize_url(url)
    try:
        parsed = make_url(normalized)
    except ArgumentError as exc:
        raise DatabaseUnusable(f"not a database URL: {url!r} ({exc})") from exc
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database
        if not path or path == ":memory:" or not Path(path).is_file():
            raise DatabaseUnusable(f"no CLO database at {shown(url)}; {HINT}")
        # read-only: looking must never create or change the file
        probe = create_engine(f"sqlite:///file:{Path(path).resolve()}?mode=ro&uri=true")
    else:
        probe = create_engine(normalized, pool_pre_ping=True)
    try:
        with probe.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                raise DatabaseUnusable(f"no CLO database at {shown(url)}; {HINT}")
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)  # the driver's own error, when there was one
        reason = str(orig if orig else exc).splitlines()[0]
        raise DatabaseUnusable(f"cannot open the CLO database at {shown(url)}: {reason}") from exc
    finally:
        probe.dispose()
    head = newest_revision()
    if current != head:
        raise DatabaseUnusable(
            f"the CLO database at {shown(url)} is at revision {current}, not the newest "
            f"({head}); run `clo db upgrade`"
        )
