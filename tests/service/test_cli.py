"""The command line: streaming ingest of CSV and NDJSON, ledger check, maturation, holdout
counts."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from service.cli import main
from tests.service.pipeline_world import T0, PipelineWorld


@pytest.fixture
def world(engine):
    w = PipelineWorld(engine)
    w.member(member_id=1)
    w.offer(offer_id=10, hold_days=0)
    return w


def run_cli(*args: str) -> int | str | None:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return exc.value.code


def figure(out: str, label: str) -> int:
    """A figure of the ingest summary table: the number on the line named `label`."""
    found = re.search(rf"^\s*{label}\s+([\d,]+)\s*$", out, re.MULTILINE)
    assert found, out
    return int(found.group(1).replace(",", ""))


def test_ingest_csv_prints_a_summary_and_is_idempotent(world, db_url, tmp_path, capsys):
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "external_id,kind,card_id,amount,currency,occurred_at,mid,original_external_id\n"
        f"a1,auth,1,4000,USD,{T0.isoformat()},MID-BB-1,\n"
        f"c1,clearing,1,4000,USD,{(T0 + timedelta(hours=3)).isoformat()},MID-BB-1,a1\n"
        f"x1,auth,1,12.50,USD,{T0.isoformat()},MID-BB-1,\n"
        "short,line\n"
    )
    assert run_cli("ingest", str(feed), "--database", db_url, "--now", T0.isoformat()) == 0
    out = capsys.readouterr().out
    assert figure(out, "accepted") == 2
    assert figure(out, "rejected") == 2
    assert "invalid_amount" in out and "wrong_column_count" in out
    assert run_cli("ingest", str(feed), "--database", db_url, "--now", T0.isoformat()) == 0
    assert figure(capsys.readouterr().out, "duplicates") == 2
    assert world.balances()["member:1:pending:USD"] == (200, 0)


def test_ingest_ndjson_with_a_broken_line(world, db_url, tmp_path, capsys):
    feed = tmp_path / "feed.ndjson"
    lines = [json.dumps(world.event(card=1, amount=2_000, ext="n1")), "{not json", "[1,2]", ""]
    feed.write_text("\n".join(lines) + "\n")
    assert run_cli("ingest", str(feed), "--database", db_url, "--now", T0.isoformat()) == 0
    out = capsys.readouterr().out
    assert figure(out, "accepted") == 1 and "invalid_json" in out and "not_an_object" in out


def test_nul_characters_reject_only_their_own_line(world, db_url, tmp_path, capsys):
    # The csv module would stop the whole file at a NUL; PostgreSQL text refuses NUL too.
    csv_feed = tmp_path / "feed.csv"
    csv_feed.write_bytes(
        b"external_id,kind,card_id,amount,currency,occurred_at,mid\n"
        + f"ok1,auth,1,4000,USD,{T0.isoformat()},MID-BB-1\n".encode()
        + f"nul1,auth,1,4000,USD,{T0.isoformat()},MID\x00BB\n".encode()
        + f"ok2,auth,1,1000,USD,{T0.isoformat()},MID-BB-1\n".encode()
    )
    assert run_cli("ingest", str(csv_feed), "--database", db_url, "--now", T0.isoformat()) == 0
    out = capsys.readouterr().out
    assert figure(out, "accepted") == 2 and "nul_character" in out
    ndjson_feed = tmp_path / "feed.ndjson"
    good = json.dumps(world.event(card=1, amount=2_000, ext="n1")).encode()
    ndjson_feed.write_bytes(good + b'\n{"external_id": "raw\x00nul"}\n' + b'{"x": "\\u0000"}\n')
    assert run_cli("ingest", str(ndjson_feed), "--database", db_url, "--now", T0.isoformat()) == 0
    out = capsys.readouterr().out
    assert figure(out, "accepted") == 1 and figure(out, "rejected") == 2
    with world.engine.connect() as conn:
        kept = conn.execute(text("SELECT raw_redacted FROM rejected_event")).scalars().all()
    assert len(kept) == 3 and not any("\x00" in raw for raw in kept)


def test_unknown_format_and_missing_file_are_clear_errors(db_url, tmp_path, capsys):
    (tmp_path / "feed.xml").write_text("<x/>")
    assert run_cli("ingest", str(tmp_path / "feed.xml"), "--database", db_url) == 2
    assert run_cli("ingest", str(tmp_path / "missing.csv"), "--database", db_url) == 2
    err = capsys.readouterr().err
    assert "unknown feed format" in err and "no such file" in err


def test_mature_and_ledger_check(world, db_url, capsys):
    world.ingest(
        world.event(card=1, amount=4_000, ext="a1"),
        world.event("clearing", card=1, amount=4_000, ext="c1", original="a1"),
    )
    assert run_cli("mature", "--database", db_url, "--now", T0.isoformat()) == 0
    assert "matured       1 rewards, 200 minor units" in capsys.readouterr().out
    assert world.balances()["member:1:available:USD"] == (200, 0)
    assert run_cli("ledger", "check", "--database", db_url) == 0
    assert "ledger balanced: yes" in capsys.readouterr().out
    with world.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE ledger_account SET posted_amount = posted_amount + 1 "
                "WHERE code = 'platform:revenue:USD'"
            )
        )
    assert run_cli("ledger", "check", "--database", db_url) == 1
    assert "MISMATCH platform:revenue:USD" in capsys.readouterr().out


def test_ledger_check_reports_card_events_whose_card_or_member_is_missing(world, db_url, capsys):
    # card_event has no foreign keys (migration 0019): the check stands in for them.
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    assert run_cli("ledger", "check", "--database", db_url) == 0
    assert "card event references: ok" in capsys.readouterr().out
    with world.engine.begin() as conn:
        conn.execute(text("UPDATE card_event SET card_id = 999, member_id = 998"))
    assert run_cli("ledger", "check", "--database", db_url) == 1
    out = capsys.readouterr().out
    assert "DANGLING 1 card events name a card that does not exist" in out
    assert "DANGLING 1 card events name a member that does not exist" in out


def test_ingest_with_workers_splits_by_member_and_keeps_each_members_rules(
    engine, db_url, tmp_path, capsys
):
    """Three processes, four members, an offer of 5% capped at two rewards per member with a
    budget of 100,000. Each member: auths of $40.00, $60.00 and $20.00 and the clearing of the
    first. Cashback 200 + 300; the third auth is past the cap; the clearing settles the first
    auth's reward. A card nobody holds and a short line are rejected by shard 0, with reasons.
    Per member's pending account: 200 posted (cleared) and 300 pending (the open auth); in all:
    reserved 2,000 for 8 redemptions."""
    w = PipelineWorld(engine)
    for member in range(1, 5):
        w.member(member_id=member)
    w.offer(offer_id=10, hold_days=0, member_max_rewards=2, budget_amount=100_000)
    at = T0.isoformat()
    lines = ["external_id,kind,card_id,amount,currency,occurred_at,mid,original_external_id"]
    for m in range(1, 5):
        lines += [
            f"a{m}-1,auth,{m},4000,USD,{at},MID-BB-1,",
            f"a{m}-2,auth,{m},6000,USD,{at},MID-BB-1,",
            f"a{m}-3,auth,{m},2000,USD,{at},MID-BB-1,",
            f"c{m}-1,clearing,{m},4000,USD,{(T0 + timedelta(hours=3)).isoformat()},MID-BB-1,a{m}-1",
        ]
    lines += [f"z1,auth,99,4000,USD,{at},MID-BB-1,", "short,line"]
    feed = tmp_path / "feed.csv"
    feed.write_text("\n".join(lines) + "\n")
    args = ("ingest", str(feed), "--database", db_url, "--now", at, "--workers", "3")
    assert run_cli(*args) == 0
    out = capsys.readouterr().out
    assert figure(out, "accepted") == 16
    assert figure(out, "rejected") == 2
    assert "unknown_card" in out and "wrong_column_count" in out
    balances = w.balances()
    for m in range(1, 5):
        assert balances[f"member:{m}:pending:USD"] == (200, 300)
    with engine.connect() as conn:
        reserved = conn.execute(
            text("SELECT reserved_amount, redemption_count FROM offer_budget")
        ).one()
    assert tuple(reserved) == (2_000, 8)
    assert run_cli(*args) == 0  # again: every event a duplicate, nothing moves
    assert figure(capsys.readouterr().out, "duplicates") == 16
    assert w.balances() == balances
    w.assert_balanced()


def test_holdout_count_counts_each_holdout_offer_once_a_day(world, db_url, capsys):
    world.offer(offer_id=11, holdout_bps=2_000)
    at = (T0 + timedelta(days=1, hours=2)).isoformat()
    assert run_cli("holdout-count", "--database", db_url, "--now", at) == 0
    assert "counted for 1 offers" in capsys.readouterr().out
    assert run_cli("holdout-count", "--database", db_url, "--now", at) == 0
    assert "counted for 0 offers" in capsys.readouterr().out
    with world.engine.connect() as conn:
        members = conn.execute(text("SELECT members FROM holdout_population")).scalar_one()
    assert members == 1  # the one member, linked 400 days before
