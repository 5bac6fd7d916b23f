"""A settlement run's attribution report covers every offer the run settled, beyond the cap
that limits the API's ad hoc reports."""

from __future__ import annotations

import pytest
from sqlalchemy import insert

from service.attribution.service import MAX_REPORT_OFFERS, TooManyOffers, build_report
from service.settlements.ports import attribution_port
from service.tables import Offer
from tests.settlement.test_attribution import P0, P1, build_world

EXTRA_OFFERS = MAX_REPORT_OFFERS + 1


def _add_offers(engine) -> list[int]:
    ids = list(range(1_000, 1_000 + EXTRA_OFFERS))
    with engine.begin() as conn:
        conn.execute(
            insert(Offer.__table__),
            [
                {"id": o, "merchant_id": 1, "title": f"offer {o}", "status": "live"}
                | {"kind": "cashback", "reward_type": "percent", "currency": "USD"}
                | {"rate_bps": 500, "starts_at": P0, "dayparts_json": "[]"}
                | {"bonus_windows_json": "[]", "created_at": P0, "updated_at": P0}
                for o in ids
            ],
        )
    return ids


def test_a_run_reports_more_offers_than_an_api_report_may(engine):
    build_world(engine)
    offer_ids = [10, 30, *_add_offers(engine)]
    port = attribution_port()
    assert port is not None and port.source == "service.attribution"
    with engine.begin() as conn:
        with pytest.raises(TooManyOffers):
            build_report(conn, period_start=P0, period_end=P1, offer_ids=offer_ids)
        body = port.build(conn, period_start=P0, period_end=P1, offer_ids=offer_ids)
    offers = {o["offer_id"]: o for o in body["offers"]}
    assert len(offers) == 2 + EXTRA_OFFERS == 503
    # The world's figures are unchanged by the other offers (see test_api_attribution).
    assert (offers[10]["spend_amount"], offers[10]["cashback_amount"]) == (10_000, 450)
    assert offers[1_000]["qualified_events"] == 0
