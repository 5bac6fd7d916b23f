"""Deployment: the README's environment table is the code's; several API workers report
their metrics together; a PostgreSQL backup restores into a fresh database whose ledger
checks out."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update

from infra.standins.stripe_standin import StripeStandin
from service.auth import Role
from service.config import Settings
from service.db import make_engine
from service.schema import upgrade
from service.settings_table import MEANINGS, settings_table
from service.settlements.ports import make_runner
from service.tables import CardEventRow, Merchant
from settlement.runs.periods import iso_week
from settlement.tables import LedgerEntry
from tests.conftest import _pg_admin, _pg_conninfo
from tests.service.api_client import issue_key
from tests.service.pipeline_world import T0, PipelineWorld

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "infra" / "deploy"
BIN = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"


def test_the_readme_environment_table_is_generated_from_settings() -> None:
    assert set(MEANINGS) == set(Settings.model_fields), "a setting without a meaning (or gone)"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(
        r"<!-- settings-table:start -->\n(.*?)\n<!-- settings-table:end -->", readme, re.S
    )
    assert found, "README: the settings table markers are missing"
    assert found.group(1) == settings_table(), "run `clo settings table` into the README"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The production start command with two workers on a migrated SQLite database: the
    base address and an admin key."""
    url = f"sqlite:///{tmp_path / 'clo.db'}"
    engine = make_engine(url)
    upgrade(engine)
    admin = issue_key(engine, role=Role.ADMIN)
    engine.dispose()
    port = _free_port()
    env = {
        **os.environ,
        "CLO_ENVIRONMENT": "test",
        "CLO_DATABASE_URL": url,
        "CLO_API_BIND": f"127.0.0.1:{port}",
        "CLO_API_WORKERS": "2",
        "CLO_BIN": str(BIN),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(DEPLOY / "start.sh"), "api"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("the API did not start: " + (tmp_path / "server.log").read_text())
        yield base, admin, tmp_path / "server.log"
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _health_served(client: httpx.Client, admin: str) -> float:
    """/healthz answers so far, summed over every worker, as /metrics reports them."""
    metrics = client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
    assert metrics.status_code == 200, metrics.text
    found = re.search(
        r'clo_http_request_duration_seconds_count\{method="GET",route="/healthz",status="200"\} '
        r"([\d.]+)",
        metrics.text,
    )
    return float(found.group(1)) if found else 0.0


def test_several_workers_report_their_metrics_together(served: tuple[str, str, Path]) -> None:
    base, admin, server_log = served
    with httpx.Client(base_url=base, timeout=10) as client:
        assert client.get("/readyz").status_code == 200
        before = _health_served(client, admin)
        request_ids = set()
        for _ in range(40):
            # A new connection each time, so both workers get some.
            resp = httpx.get(f"{base}/healthz", timeout=10)
            assert resp.status_code == 200
            request_ids.add(resp.headers["X-Request-ID"])
        after = _health_served(client, admin)
    assert after - before == 40  # whichever worker served each one
    assert len(request_ids) == 40
    lines = [json.loads(line) for line in server_log.read_text().splitlines() if line[:1] == "{"]
    served_by = {line["process"] for line in lines if line.get("request_id") in request_ids}
    assert len(served_by) == 2, "both workers answered some (else this proves nothing)"


def _settled_world(url: str, stripe: StripeStandin) -> None:
    engine = make_engine(url)
    world = PipelineWorld(engine)
    world.member(member_id=1)
    world.offer(offer_id=10)
    with engine.begin() as conn:
        conn.execute(update(Merchant.__table__).values(billing_email="ap@bluebottle.example"))
    world.ingest(
        world.event("clearing", card=1, amount=4_000, ext="c-40"),
        world.event("clearing", card=1, amount=2_500, ext="c-25"),
        world.event("auth", card=1, amount=1_000, ext="a-10"),
        now=T0,
    )
    settings = Settings(
        environment="test",
        stripe_api_key=stripe.api_key,
        stripe_api_base=stripe.url,
        settlement_auto_approve_below_amount=10**9,
    )
    labels = {"step": "bill", "state": "closed"}
    steps_before = REGISTRY.get_sample_value("clo_settlement_step_duration_seconds_count", labels)
    outcome = make_runner(engine, settings).settle(iso_week("2026-W41"), T0 + timedelta(days=7))
    assert outcome.status == "closed"
    steps_after = REGISTRY.get_sample_value("clo_settlement_step_duration_seconds_count", labels)
    assert (steps_after or 0) == (steps_before or 0) + 1  # the run's steps reach /metrics
    engine.dispose()


def _counts(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        events = conn.execute(select(func.count()).select_from(CardEventRow.__table__)).scalar()
        entries = conn.execute(select(func.count()).select_from(LedgerEntry.__table__)).scalar()
    engine.dispose()
    return int(events or 0), int(entries or 0)


@pytest.mark.postgres
def test_a_backup_restores_into_a_fresh_database_with_a_balanced_ledger(
    pg_template: str, tmp_path: Path
) -> None:
    source, target = f"clo_bk_{uuid.uuid4().hex[:10]}", f"clo_rs_{uuid.uuid4().hex[:10]}"
    _pg_admin(f'CREATE DATABASE "{source}" TEMPLATE "{pg_template}"')
    _pg_admin(f'CREATE DATABASE "{target}"')
    try:
        with StripeStandin() as stripe:
            _settled_world(_pg_conninfo(source), stripe)
        dump = tmp_path / "clo.dump"
        env = {**os.environ, "CLO_BIN": str(BIN), "CLO_DATABASE_URL": _pg_conninfo(source)}
        backup = subprocess.run(
            [str(DEPLOY / "backup.sh"), str(dump)], env=env, capture_output=True, text=True
        )
        assert backup.returncode == 0, backup.stderr
        restored = subprocess.run(
            [str(DEPLOY / "restore.sh"), str(dump), _pg_conninfo(target)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert restored.returncode == 0, restored.stdout + restored.stderr
        assert "ledger balanced: yes" in restored.stdout
        assert _counts(_pg_conninfo(target)) == _counts(_pg_conninfo(source))
        assert _counts(_pg_conninfo(target))[0] == 3
    finally:
        for name in (source, target):
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
