"""`clo bench webhook` serves the API, posts signed batches on its schedule to it, finds every
event stored once and prints its figures; on SQLite and on a fresh PostgreSQL database, never
analysed and analysed."""

from __future__ import annotations

import re

import pytest

from infra.bench.webhook import WARMUP_BATCHES_PER_WORKER
from service.cli import main
from tests.conftest import PG_ADMIN_URL


@pytest.mark.parametrize(
    "database",
    [
        pytest.param(None, id="sqlite"),
        pytest.param(PG_ADMIN_URL, id="postgres", marks=pytest.mark.postgres),
    ],
)
@pytest.mark.parametrize("analyse", ["--no-analyse", "--analyse"])
def test_the_webhook_bench_stores_every_event_once_and_prints_its_figures(
    capsys, database, analyse
):
    args = ["bench", "webhook", "--seconds", "2", "--rate", "100", "--batch", "20"]
    args += ["--history-events", "2000", "--workers", "1", analyse]
    if database:
        args += ["--database", database]
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr().out
    assert exc.value.code == 0, out
    assert ("never analysed" in out) == (analyse == "--no-analyse")
    assert re.search(r"sent\s+200 events in 10 requests", out)
    # The untimed warm-up batches count for lost and doubled, not for the figures.
    assert f"after {WARMUP_BATCHES_PER_WORKER * 20} untimed" in out
    assert "answers    accepted 200\n" in out
    figures = re.search(r"acknowledgement\s+n=\s*10\s+p50\s+(\d+) ms\s+p99\s+(\d+) ms\s+max", out)
    assert figures is not None, out
    assert "events lost 0   doubled 0   accepted twice 0" in out
