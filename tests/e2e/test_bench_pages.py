"""`clo bench pages` seeds a database of events, rewards and ledger rows and times the member
and merchant page reads on it; here on a tiny one, for its figures (timings are not judged)."""

from __future__ import annotations

import re

import pytest

from service.cli import main


def test_the_pages_bench_seeds_and_prints_each_read(capsys):
    args = ["--events", "3000", "--members", "300", "--offers", "30"]
    with pytest.raises(SystemExit) as exc:
        main(["bench", "pages", *args, "--reads", "10", "--offer-reads", "3"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert re.search(r"3,000 events, [\d,]+ rewards, [\d,]+ ledger entries", out)
    for read in (
        "member balance",
        "member activity",
        "member offers",
        "merchant performance",
        "merchant attribution",
    ):
        assert re.search(rf"{read}.* p50 / p99\s+[\d.]+ / [\d.]+ ms", out), read
