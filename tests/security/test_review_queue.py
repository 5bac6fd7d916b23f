"""The review queue of unresolved merchant names is tenant-walled: a merchant sees and maps
only names seen at its own locations or matching its brand and aliases."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert

from service.auth import Role
from service.linking_tables import UnresolvedMerchant
from tests.service.api_client import (
    api_for,
    card_event,
    create_location,
    create_member,
    create_merchant,
    push_events,
    register_card,
)


def test_a_merchant_sees_names_from_its_own_locations_and_aliases_only(engine: Engine) -> None:
    now = datetime.now(UTC)
    with api_for(engine) as api:
        kiosk = create_merchant(api, brand_name="Kiosk Co")
        rival = create_merchant(api, brand_name="Rival Goods")
        create_location(api, merchant_id=kiosk["id"], mid="MID-K-1")
        assert api.post(f"/v1/merchants/{rival['id']}/aliases", api.admin,
                        {"alias": "Rival Outlet"}).status_code == 201  # fmt: skip
        member, _ = create_member(api)
        card = register_card(api, member_id=member["id"])
        event = {**card_event(card_id=card["id"], mid="MID-K-1"), "merchant_name": "KIOSK #42"}
        push_events(api, event)
        rows = [("name", "kiosk 42", None), ("entity_id", "ent-rival", "Rival Outlet"),
                ("name", "somebody else", None)]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(
                insert(UnresolvedMerchant.__table__),
                [
                    {
                        "kind": k,
                        "value": v,
                        "example_name": n,
                        "event_count": 1,
                        "first_seen_at": now,
                        "last_seen_at": now,
                        "status": "open",
                    }
                    for k, v, n in rows
                ],
            )
        seen = {}
        for name, merchant in (("kiosk", kiosk), ("rival", rival)):
            key = api.key(Role.MERCHANT, merchant_id=merchant["id"])
            items = api.get("/v1/unresolved-merchants", key).json()["items"]
            seen[name] = {i["value"]: i["id"] for i in items}
        assert set(seen["kiosk"]) == {"kiosk 42"}
        assert set(seen["rival"]) == {"ent-rival"}
        # Neither can claim the other's name for itself.
        rival_key = api.key(Role.MERCHANT, merchant_id=rival["id"])
        claim = f"/v1/merchants/{rival['id']}/unresolved-merchants/{seen['kiosk']['kiosk 42']}/map"
        assert api.post(claim, rival_key).status_code == 404
