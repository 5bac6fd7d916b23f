"""The in-app list over the API: a member sees only their own notifications; another
member's (or their notification's) id is a 404; bad choices are 422s naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import Role
from service.notifications.notifier import OutboxConsumer
from tests.service.api_client import bearer, issue_key
from tests.service.notifications.world import notifications, notify_settings, world_with_members
from tests.service.pipeline_world import T0, PipelineWorld


@pytest.fixture
def told(engine) -> Iterator[tuple[TestClient, PipelineWorld]]:
    world = world_with_members(engine, 1, 2)
    world.ingest(world.event(card=1, amount=4_000, ext="a1"))
    world.ingest(world.event(card=2, amount=10_000, ext="b1"))
    OutboxConsumer(engine).consume(T0 + timedelta(seconds=1))
    with TestClient(create_app(engine=engine, settings=notify_settings())) as client:
        yield client, world


def member(engine, member_id: int) -> dict[str, str]:
    return bearer(issue_key(engine, role=Role.MEMBER, member_id=member_id))


def test_a_member_reads_their_notifications_and_marks_them_read(engine, told):
    client, _ = told
    me = member(engine, 1)
    body = client.get("/v1/members/1/notifications", headers=me).json()
    assert body["unread_count"] == 1
    [item] = body["items"]
    assert (item["title"], item["amount_minor"], item["currency"], item["link"]) == (
        "You earned $2.00 at Blue Bottle",
        200,
        "USD",
        "/app/activity",
    )
    nb = client.get("/v1/members/1/notifications?language=nb", headers=me).json()
    assert nb["items"][0]["title"] == "Du fikk 2,00\xa0USD i bonus hos Blue Bottle"

    marked = client.post(
        "/v1/members/1/notifications/read", headers=me, json={"notification_ids": [item["id"]]}
    ).json()
    assert marked == {"marked_count": 1, "unread_count": 0}
    again = client.post("/v1/members/1/notifications/read", headers=me, json={}).json()
    assert again == {"marked_count": 0, "unread_count": 0}


def test_another_members_notifications_are_not_found(engine, told):
    client, _ = told
    me = member(engine, 1)
    theirs = [n.id for n in notifications(engine, member_id=2)]
    resp = client.get("/v1/members/2/notifications", headers=me)
    assert resp.status_code == 404
    assert resp.json()["errors"][0]["field"] == "member_id"
    # Their notification's id through my own member: not found either, and still unread.
    resp = client.post(
        "/v1/members/1/notifications/read", headers=me, json={"notification_ids": theirs}
    )
    assert resp.status_code == 404
    assert resp.json()["errors"][0]["field"] == "notification_ids"
    assert [n.read_at for n in notifications(engine, member_id=2)] == [None]
    # What I see is only mine.
    mine = client.get("/v1/members/1/notifications", headers=me).json()["items"]
    assert {i["id"] for i in mine}.isdisjoint(theirs)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"quiet_start_minute": 1320}, None),
        ({"quiet_start_minute": 1440, "quiet_end_minute": 420}, "quiet_start_minute"),
        ({"language": "de"}, "language"),
        ({"sms": True}, "sms"),
    ],
)
def test_bad_choices_are_refused_naming_the_field(engine, told, body, field):
    client, _ = told
    resp = client.put(
        "/v1/members/1/notification-preferences", headers=member(engine, 1), json=body
    )
    assert resp.status_code == 422
    if field is not None:
        assert field in str(resp.json()["errors"][0]["field"])


def test_choices_are_kept_and_read_back(engine, told):
    client, _ = told
    me = member(engine, 1)
    defaults = client.get("/v1/members/1/notification-preferences", headers=me).json()
    assert (defaults["in_app"], defaults["email"], defaults["email_address_known"]) == (
        True,
        True,
        True,
    )
    chosen = {
        "email": False,
        "timezone": "Europe/Oslo",
        "quiet_start_minute": 22 * 60,
        "quiet_end_minute": 7 * 60,
        "language": "nb",
    }
    put = client.put("/v1/members/1/notification-preferences", headers=me, json=chosen).json()
    assert put["email"] is False and put["timezone"] == "Europe/Oslo"
    assert client.get("/v1/members/1/notification-preferences", headers=me).json() == put
