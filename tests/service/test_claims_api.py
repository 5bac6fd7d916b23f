"""Claims over the API: a member files (money as an integer, receipts judged by their bytes),
the merchant decides, and nobody reaches another party's claim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from service.auth import Role
from service.claims.receipts import MAX_RECEIPT_BYTES
from service.claims.tables import Claim
from tests.service.api_client import (
    Api,
    api_for,
    assert_problem,
    create_location,
    create_member,
    create_merchant,
    create_offer,
    register_card,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"%" * 64


@pytest.fixture
def api(engine):
    with api_for(engine) as api:
        yield api


def setup(api: Api) -> dict:
    m1 = create_merchant(api, brand_name="Blue Bottle")
    m2 = create_merchant(api, brand_name="Red Kettle")
    create_location(api, merchant_id=m1["id"], mid="MID-BB-1")
    create_offer(api, merchant_id=m1["id"], publish=True, commission_bps=2000)
    member, member_headers = create_member(api, display_name="Ada")
    other, other_headers = create_member(api, display_name="Bo")
    register_card(api, member_id=member["id"])
    register_card(api, member_id=other["id"], provider_token="tok_2", fingerprint="fp_2")
    return {
        "m1": m1["id"],
        "m2": m2["id"],
        "member": member["id"],
        "member_headers": member_headers,
        "other": other["id"],
        "other_headers": other_headers,
        "merchant_1": api.key(Role.MERCHANT, merchant_id=m1["id"]),
        "merchant_2": api.key(Role.MERCHANT, merchant_id=m2["id"]),
    }


def body(w: dict, **fields) -> dict:
    return {
        "merchant_id": w["m1"],
        "purchase_date": datetime.now(UTC).date().isoformat(),
        "amount": 4_000,
        "currency": "USD",
        "card_last4": "4242",
        **fields,
    }


def file(api: Api, w: dict, key: str = "c1", headers=None, member=None, **fields):
    return api.post(
        f"/v1/members/{member or w['member']}/claims",
        {**(headers or w["member_headers"]), "Idempotency-Key": key},
        body(w, **fields),
    )


def test_file_accept_and_read_back(api):
    w = setup(api)
    filed = file(api, w)
    assert filed.status_code == 201, filed.text
    claim = filed.json()
    assert (claim["status"], claim["amount"], claim["merchant_name"]) == (
        "submitted",
        4_000,
        "Blue Bottle",
    )
    assert file(api, w).status_code == 200  # a retry: the first claim
    queue = api.get("/v1/claims?status=submitted", w["merchant_1"]).json()["items"]
    assert [c["id"] for c in queue] == [claim["id"]]
    assert api.get("/v1/claims", w["merchant_2"]).json()["items"] == []
    decided = api.post(
        f"/v1/claims/{claim['id']}/decision", w["merchant_1"], {"decision": "accept"}
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["status"], decided.json()["reward_amount"]) == ("accepted", 200)
    mine = api.get(f"/v1/members/{w['member']}/claims", w["member_headers"]).json()["items"]
    assert [(c["status"], c["reward_amount"]) for c in mine] == [("accepted", 200)]
    balance = api.get(f"/v1/members/{w['member']}/balance", w["member_headers"]).json()
    assert [(b["currency"], b["pending_amount"]) for b in balance["balances"]] == [("USD", 200)]


def test_a_float_amount_is_refused_naming_the_field(api):
    w = setup(api)
    assert_problem(file(api, w, amount=40.0), 422, "amount", "int_type")
    assert_problem(file(api, w, key="c2", amount="4000"), 422, "amount", "int_type")


def test_a_claim_on_another_members_card_or_for_another_member_is_refused(api):
    w = setup(api)
    assert_problem(file(api, w, card_last4="1111"), 422, "card_last4", "card_not_found")
    # Member A's token cannot file for member B, nor read B's claims.
    assert file(api, w, member=w["other"]).status_code == 404
    other = file(api, w, headers=w["other_headers"], member=w["other"]).json()
    assert api.get(f"/v1/claims/{other['id']}", w["member_headers"]).status_code == 404
    assert api.get(f"/v1/members/{w['other']}/claims", w["member_headers"]).status_code == 404
    # Merchant 2 can neither read nor decide a claim at merchant 1.
    assert api.get(f"/v1/claims/{other['id']}", w["merchant_2"]).status_code == 404
    decision = {"decision": "decline", "reason": "no"}
    resp = api.post(f"/v1/claims/{other['id']}/decision", w["merchant_2"], decision)
    assert resp.status_code == 404
    # A member cannot decide at all.
    resp = api.post(f"/v1/claims/{other['id']}/decision", w["other_headers"], decision)
    assert resp.status_code == 403


def test_a_purchase_outside_every_offer_window_is_refused_and_kept(api):
    w = setup(api)
    long_ago = (datetime.now(UTC) - timedelta(days=20)).date().isoformat()
    resp = file(api, w, purchase_date=long_ago)
    problem = assert_problem(resp, 422, "purchase_date", "no_offer_in_window")
    with api.engine.connect() as conn:
        kept = conn.execute(
            select(Claim.__table__.c.status, Claim.__table__.c.reason).where(
                Claim.__table__.c.id == problem["claim_id"]
            )
        ).one()
    assert tuple(kept) == ("refused", "no_offer_in_window")
    assert file(api, w, purchase_date=long_ago).status_code == 422  # the retry says the same
    # Nor a merchant with no offer at all.
    assert_problem(
        file(api, w, key="c2", merchant_id=w["m2"]), 422, "purchase_date", "no_offer_in_window"
    )


def put_receipt(api: Api, w: dict, claim_id: int, content: bytes, content_type="image/png"):
    return api.client.put(
        f"/v1/claims/{claim_id}/receipt",
        content=content,
        headers={**w["member_headers"], "Content-Type": content_type},
    )


def test_receipts_are_judged_by_their_bytes_and_their_size(api):
    w = setup(api)
    claim = file(api, w).json()
    for content in (PNG, JPEG, PDF):
        resp = put_receipt(api, w, claim["id"], content)
        assert resp.status_code == 200, resp.text
    assert resp.json()["content_type"] == "application/pdf"
    # A text file called a PNG is refused, and so is an empty body.
    assert_problem(
        put_receipt(api, w, claim["id"], b"hello, a receipt"), 422, "receipt", "receipt_type"
    )
    assert_problem(put_receipt(api, w, claim["id"], b""), 422, "receipt", "receipt_empty")
    # 6 MB of a real PNG signature is still too large; exactly 5 MB is fine.
    six_mb = PNG + b"\x00" * (6 * 1024 * 1024 - len(PNG))
    assert_problem(put_receipt(api, w, claim["id"], six_mb), 413, "receipt", "receipt_too_large")
    five_mb = PNG + b"\x00" * (MAX_RECEIPT_BYTES - len(PNG))
    assert put_receipt(api, w, claim["id"], five_mb).status_code == 200
    got = api.get(f"/v1/claims/{claim['id']}/receipt", w["merchant_1"])
    assert got.status_code == 200 and got.content == five_mb
    assert got.headers["content-type"] == "image/png"
    assert api.get(f"/v1/claims/{claim['id']}/receipt", w["merchant_2"]).status_code == 404
    assert api.get(f"/v1/claims/{claim['id']}", w["member_headers"]).json()["has_receipt"]
