"""Wiring the settlement ports: Stripe billing and payouts, the attribution report."""

from __future__ import annotations

import dataclasses
import importlib
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine

from service.config import Settings
from service.integrations.stripe_billing import StripeBilling, StripePayouts, stripe_client
from service.observability.metrics import record_settlement
from settlement.runs.periods import Period
from settlement.runs.ports import Ports
from settlement.runs.runner import WEEKLY, RunOutcome, RunSettings, SettlementRunner

log = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


class AttributionReport:
    """ReportPort over `service.attribution.build_report` (built by the attribution work)."""

    source = "service.attribution"

    def __init__(self, build_report: Any, to_dicts: Any = None) -> None:
        self.build_report = build_report
        self.to_dicts = to_dicts

    def build(
        self,
        conn: Connection,
        *,
        period_start: datetime,
        period_end: datetime,
        offer_ids: list[int] | None,
    ) -> Any:
        # A run reports every offer it settled, however many: the cap on offers per report
        # is for the API's ad hoc reports.
        limit = {} if offer_ids is None else {"max_offers": max(len(offer_ids), 1)}
        rows = self.build_report(
            conn, period_start=period_start, period_end=period_end, offer_ids=offer_ids, **limit
        )
        if self.to_dicts is not None:
            return {"offers": self.to_dicts(rows)}
        if isinstance(rows, list | tuple):
            return {"offers": [_jsonable(r) for r in rows]}
        return _jsonable(rows)


def attribution_port() -> AttributionReport | None:
    """The attribution report if its module exists; None lets the run use its own summary."""
    for name in ("service.attribution", "service.attribution.service"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        build = getattr(module, "build_report", None)
        if build is not None:
            return AttributionReport(build, getattr(module, "report_to_dicts", None))
    log.warning("no service.attribution build_report: runs store their own per-offer summary")
    return None


def run_settings(settings: Settings) -> RunSettings:
    return RunSettings(
        auto_approve_below_amount=settings.settlement_auto_approve_below_amount,
        payout_minimum_amount=settings.payout_minimum_amount,
    )


def stripe_ports(engine: Engine, settings: Settings) -> Ports:
    client = stripe_client(settings)
    return Ports(
        billing=StripeBilling(engine, client),
        payouts=StripePayouts(engine, client),
        report=attribution_port(),
    )


class MeteredSettlementRunner(SettlementRunner):
    """The runner whose step times reach /metrics, whoever calls it (scheduler, `clo settle`,
    the finance console); resuming runs goes through `settle` too."""

    def settle(self, period: Period, now: datetime, *, kind: str = WEEKLY) -> RunOutcome:
        outcome = super().settle(period, now, kind=kind)
        record_settlement(outcome)
        return outcome


def make_runner(engine: Engine, settings: Settings, **kwargs: Any) -> SettlementRunner:
    return MeteredSettlementRunner(
        engine, stripe_ports(engine, settings), run_settings(settings), **kwargs
    )
