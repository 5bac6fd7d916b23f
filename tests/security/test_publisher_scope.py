"""Publishers own their members: another publisher's member is a 404 everywhere.

The attack that was critical: publisher B pointing publisher A's member's payouts at its own
Stripe account, so the next settlement paid B. Every member route is tried by B on A's member
and on an id that does not exist; both answers must be the same 404, and nothing changes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select
from sqlmodel import col

from service.auth import Role
from service.schema import upgrade
from service.settlements.tables import MemberPayoutAccount
from service.tables import ApiCredential, Member, Publisher
from tests.migrations import downgrade_to
from tests.service.api_client import (
    Api,
    api_for,
    create_location,
    create_member,
    create_merchant,
    create_offer,
    push_events,
    register_card,
)

MISSING_ID = 999_999


def member_routes(member_id: int, event_id: int, offer_id: int) -> list[tuple[str, str, object]]:
    """(method, path, body) of every route that reaches a member or what belongs to it."""
    m = f"/v1/members/{member_id}"
    return [
        ("GET", m, None),
        ("GET", f"{m}/activations", None),
        ("POST", f"{m}/activations", {"offer_id": offer_id}),
        ("GET", f"{m}/balance", None),
        ("GET", f"{m}/activity", None),
        ("GET", f"{m}/cards", None),
        (
            "POST",
            f"{m}/cards",
            {"provider_token": "tok_b", "fingerprint": "fp_b", "brand": "visa", "last4": "1111"},
        ),
        ("DELETE", f"{m}/cards/1", None),
        ("PUT", f"{m}/payout-account", {"stripe_account_id": "acct_attacker"}),
        ("POST", f"{m}/donations", {"charity_id": 1, "amount": 100, "currency": "USD"}),
        ("POST", f"{m}/plaid/link-token", None),
        ("POST", f"{m}/plaid/exchange", {"public_token": "public-sandbox-x"}),
        ("GET", f"{m}/plaid/items", None),
        ("POST", f"{m}/cards/setup-intents", None),
        ("POST", f"{m}/cards/setup-intents/seti_123/confirm", None),
        ("GET", f"/v1/offers?member_id={member_id}", None),
        ("GET", f"/v1/card-events/{event_id}/explanation", None),
    ]


def call(api: Api, method: str, path: str, headers: dict, body: object):
    headers = {**headers, "Idempotency-Key": "k-1"}
    return api.client.request(method, path, headers=headers, json=body)


def test_a_publisher_reaches_only_its_own_members(engine: Engine) -> None:
    with api_for(engine) as api:
        merchant = create_merchant(api)
        create_location(api, merchant_id=merchant["id"])
        offer = create_offer(api, merchant_id=merchant["id"], publish=True)
        member, _ = create_member(api)  # publisher A (api.publisher)
        card = register_card(api, member_id=member["id"])
        event = push_events(api, {**_event(card["id"])})["results"][0]
        owner_put = api.client.put(
            f"/v1/members/{member['id']}/payout-account",
            headers=api.publisher,
            json={"stripe_account_id": "acct_owner"},
        )
        assert owner_put.status_code == 200, owner_put.text
        other = api.key(Role.PUBLISHER)  # publisher B
        tried = 0
        for method, path, body in member_routes(member["id"], event["event_id"], offer["id"]):
            theirs = call(api, method, path, other, body)
            assert theirs.status_code == 404, (method, path, theirs.text)
            missing_path = (
                path.replace(f"/members/{member['id']}", f"/members/{MISSING_ID}")
                .replace(f"member_id={member['id']}", f"member_id={MISSING_ID}")
                .replace(f"/card-events/{event['event_id']}/", f"/card-events/{MISSING_ID}/")
            )
            assert missing_path != path
            missing = call(api, method, missing_path, other, body)
            # Enumeration learns nothing: another's member answers as a missing one does.
            assert missing.status_code == 404, (method, missing_path, missing.text)
            assert theirs.json().get("errors") == missing.json().get("errors"), (
                path,
                theirs.text,
                missing.text,
            )
            tried += 1
        assert tried == 17
        # The owner still reaches everything, and the payout account is the owner's choice.
        assert api.get(f"/v1/members/{member['id']}", api.publisher).status_code == 200
        with engine.connect() as conn:
            accounts = list(
                conn.execute(select(col(MemberPayoutAccount.stripe_account_id))).scalars()
            )
        assert accounts == ["acct_owner"]


def test_publishers_read_offers_only_as_members_see_them(engine: Engine) -> None:
    with api_for(engine) as api:
        merchant = create_merchant(api)
        offer = create_offer(api, merchant_id=merchant["id"], publish=True, budget_amount=50_000)
        member, _ = create_member(api)
        for path in (f"/v1/offers/{offer['id']}", f"/v1/merchants/{merchant['id']}/offers"):
            assert api.get(path, api.publisher).status_code == 403, path
        listed = api.get(f"/v1/offers?member_id={member['id']}", api.publisher).json()["items"]
        assert [o["id"] for o in listed] == [offer["id"]]
        assert not {"commission_bps", "budget_amount", "reserved_amount"} & set(listed[0])


def test_keys_of_one_publisher_share_its_members(engine: Engine) -> None:
    """A second key for the same publisher (rotation) reaches the same members."""
    from service.auth import issue_credential
    from tests.service.api_client import bearer, in_own_session

    with api_for(engine) as api:
        member, _ = create_member(api)
        with engine.connect() as conn:
            publisher_id = conn.execute(
                select(col(Member.publisher_id)).where(col(Member.id) == member["id"])
            ).scalar_one()
        token = in_own_session(
            engine,
            lambda s: issue_credential(
                s, role=Role.PUBLISHER, now=datetime.now(UTC), publisher_id=publisher_id
            ),
        )
        assert api.get(f"/v1/members/{member['id']}", bearer(token)).status_code == 200


def test_existing_members_and_publisher_keys_get_their_owner_in_the_migration(
    engine: Engine,
) -> None:
    downgrade_to(engine, "0006")
    now = datetime(2026, 11, 1, tzinfo=UTC)
    members = Member.__table__
    credentials = ApiCredential.__table__
    with engine.begin() as conn:
        conn.execute(
            insert(members),
            [
                {"id": 1, "display_name": "a", "tier": 0, "created_at": now},
                {"id": 2, "display_name": "b", "tier": 0, "created_at": now},
            ],
        )
        conn.execute(
            insert(credentials),
            [
                {
                    "key_id": "ck_pub",
                    "secret_sha256": "0" * 64,
                    "role": "publisher",
                    "name": "",
                    "created_at": now,
                },
                {
                    "key_id": "ck_adm",
                    "secret_sha256": "1" * 64,
                    "role": "admin",
                    "name": "",
                    "created_at": now,
                },
            ],
        )
    upgrade(engine)
    with engine.connect() as conn:
        publishers = list(conn.execute(select(col(Publisher.id), col(Publisher.name))))
        assert len(publishers) == 1
        owner = publishers[0].id
        owners = (
            conn.execute(select(col(Member.publisher_id)).order_by(col(Member.id))).scalars().all()
        )
        assert owners == [owner, owner]
        keys: dict[str, int | None] = dict(
            conn.execute(select(col(ApiCredential.key_id), col(ApiCredential.publisher_id))).all()
        )
        assert keys == {"ck_pub": owner, "ck_adm": None}


def _event(card_id: int) -> dict:
    from tests.service.api_client import card_event

    return card_event(card_id=card_id, external_id="ev-scope-1")
