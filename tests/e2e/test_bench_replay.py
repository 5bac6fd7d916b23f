"""`clo bench replay` runs the production path on a small feed and prints its figures; with
`--floor`, the cost of reading, parsing and storing the events alone."""

from __future__ import annotations

import re

import pytest

from service.cli import main


def _run(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(["bench", "replay", "--events", "3000", "--offers", "50", *args])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_the_replay_bench_ingests_the_feed_and_keeps_the_ledger_balanced(capsys):
    out = _run(capsys, "--batch-events", "1000")
    assert re.search(r"events/s\s+[\d,]+", out)
    assert "(1,000 events per batch" in out
    counts = re.search(r"rejected\s+([\d,]+) / ([\d,]+) / ([\d,]+)", out).group(1, 2, 3)
    accepted, duplicates, rejected = (int(n.replace(",", "")) for n in counts)
    assert accepted + duplicates + rejected == 3000 and accepted > 2900
    assert "ledger balanced: yes" in out


def test_the_floor_bench_prints_each_stage_and_the_ceiling_they_set(capsys):
    out = _run(capsys, "--floor")
    stages = [
        float(re.search(rf"{name}\s+([\d.]+) us per event", out).group(1))
        for name in ("read the line", "parse and check it", "store its card_event row")
    ]
    assert all(cost > 0 for cost in stages)
    one_process = int(re.search(r"floor, one process\s+([\d,]+)", out).group(1).replace(",", ""))
    assert one_process == pytest.approx(1e6 / sum(stages), rel=0.02)
    assert "ledger balanced" not in out


def test_the_replay_bench_with_workers_prints_stages_and_lock_wait(capsys):
    out = _run(capsys, "--batch-events", "1000", "--workers", "2")
    assert "(2 ingest processes)" in out
    counts = re.search(r"rejected\s+([\d,]+) / ([\d,]+) / ([\d,]+)", out).group(1, 2, 3)
    assert sum(int(n.replace(",", "")) for n in counts) == 3000
    stages = {
        name: float(re.search(rf"^{name}\s+([\d.]+) us", out, re.MULTILINE).group(1))
        for name in ("parse", "decide", "write events", "reserve budgets", "commit")
    }
    assert stages["decide"] > 0 and stages["write events"] > 0
    assert re.search(r"lock wait\s+[\d.]+ s waiting for the write lock", out)
    assert len(re.findall(r"[\d,]+ MiB", out)) == 3  # the router and each worker
    assert "ledger balanced: yes" in out
