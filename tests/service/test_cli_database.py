"""Which database `clo` uses, and one clear line (exit 2, no traceback, no new file) when
it is missing or not migrated."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from service.cli import main
from service.cli_database import LAST_DATABASE_FILE, newest_revision, resolve_url


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code or 0)


def test_a_missing_sqlite_database_is_one_line_and_no_new_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    assert run_cli("ledger", "check", "--database", f"sqlite:///{missing}") == 2
    err = capsys.readouterr().err
    assert (
        err == f"clo: no CLO database at sqlite:///{missing}; run `clo db upgrade` or `make demo`\n"
    )
    assert not missing.exists()


def test_an_unmigrated_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.db"
    create_engine(f"sqlite:///{empty}").connect().close()  # a file with no tables
    assert run_cli("mature", "--database", f"sqlite:///{empty}") == 2
    assert "no CLO database at" in capsys.readouterr().err
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with create_engine(url).begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('0003')"))
    assert run_cli("ledger", "check", "--database", url) == 2
    err = capsys.readouterr().err
    assert f"is at revision 0003, not the newest ({newest_revision()})" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_upgrade_then_commands_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert run_cli("db", "upgrade", "--database", url) == 0
    assert run_cli("ledger", "check", "--database", url) == 0


def test_the_url_comes_from_the_flag_the_environment_or_the_last_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLO_DATABASE_URL", raising=False)
    assert resolve_url(None) == "sqlite:///./clo.db"
    LAST_DATABASE_FILE.write_text("sqlite:///demo-here.db\n")
    assert resolve_url(None) == "sqlite:///demo-here.db"
    monkeypatch.setenv("CLO_DATABASE_URL", "sqlite:///from-env.db")
    assert resolve_url(None) == "sqlite:///from-env.db"
    assert resolve_url("sqlite:///flag.db") == "sqlite:///flag.db"


def test_an_unreachable_postgres_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql://clo:secret@127.0.0.1:1/clo"
    assert run_cli("ledger", "check", "--database", url) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        "clo: cannot open the CLO database at postgresql://clo:***@127.0.0.1:1/clo: "
    )
    assert "secret" not in err and err.count("\n") == 1
