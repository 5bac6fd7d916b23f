"""Every operation of the OpenAPI document, tried by every caller: anonymous, admin, finance,
two publishers, two merchants and a member of each publisher.

For each, from what the route declares (the roles its `require(...)` admits) and whose object
its path names, the expected answer: anonymous 401; a role the route does not admit 403; a
caller the victim side's object does not belong to 404 (exactly, so ids cannot be probed);
its owner gets through (neither 401, 403 nor, on the first try, 404). No answer is a 5xx,
and every status is one the operation documents.
"""

from __future__ import annotations

from collections import Counter

from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from service.auth import Role
from service.openapi_problems import _api_routes
from tests.security.world import CALLERS, OWNERS, ROLE_OF, allowed_roles, build_world, sample_body
from tests.service.api_client import api_for

# Signed webhooks answer to their own signatures, not to API credentials.
WEBHOOKS = {"/v1/webhooks/stripe", "/v1/webhooks/plaid", "/v1/feeds/network/events"}


def _operations(app: FastAPI) -> list[tuple[str, str, dict, APIRoute]]:
    spec = app.openapi()
    routes = _api_routes(list(app.routes))
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            route = next(
                r
                for r in routes
                if method.upper() in (r.methods or ()) and path in (r.path, "/v1" + r.path)
            )
            found.append((method.upper(), path, op, route))
    # What takes the victim's objects away (ending its offer, unlinking its card) goes last,
    # so every other operation meets them as they were.
    return sorted(found, key=lambda o: o[0] == "DELETE" or o[1].endswith(("/end", "/pause")))


def _expected(caller: str, path: str, roles, *, query_member: bool) -> str:
    if caller == "anonymous":
        return "401"
    role = ROLE_OF[caller]
    if roles is not None and role is not Role.ADMIN and role not in roles:
        return "403"
    scoped = [p for p in OWNERS if "{" + p + "}" in path]
    if query_member:
        scoped.append("member_id")
    if any(caller not in OWNERS[p] for p in scoped):
        return "404"
    return "reached"


def test_every_operation_answers_every_caller_as_its_scope_says(engine: Engine) -> None:
    tally: Counter[str] = Counter()
    with api_for(engine) as api:
        world = build_world(api)
        app = api.client.app
        assert isinstance(app, FastAPI)
        for method, path, op, route in _operations(app):
            if path in WEBHOOKS:
                continue
            documented = {int(s) for s in op["responses"]}
            query_member = path == "/v1/offers"
            url = path.format(**{k: v for k, v in world.ids.items() if "{" + k + "}" in path})
            if query_member:
                url += f"?member_id={world.ids['member_id']}"
            roles = allowed_roles(route)
            scoped = {p for p in world.ids if "{" + p + "}" in path}
            first_owner = True
            for caller in CALLERS:
                headers = dict(world.keys[caller] or {})
                headers["Idempotency-Key"] = f"matrix-{caller}"
                body = sample_body(method, path, world)
                resp = api.client.request(method, url, headers=headers, json=body)
                want = _expected(caller, path, roles, query_member=query_member)
                where = f"{caller} {method} {url}: {resp.status_code} {resp.text[:200]}"
                # Never a server error; a provider not configured is a documented 503 problem.
                assert resp.status_code < 500 or (
                    resp.status_code in (502, 503)
                    and resp.headers["content-type"].startswith("application/problem+json")
                ), where
                assert resp.status_code in documented, where
                if want == "reached":
                    assert resp.status_code not in (401, 403), where
                    # An owner may meet a missing sub-object (a report not yet made, an
                    # unknown SetupIntent), never a 404 for the scoped object itself.
                    if first_owner and resp.status_code == 404:
                        error = resp.json()["errors"][0]
                        assert (error["field"], error["reason"]) not in {
                            (p, "not-found") for p in scoped
                        }, where
                    first_owner = False
                else:
                    assert resp.status_code == int(want), f"want {want}: {where}"
                tally[want] += 1
    # The figures the suite reports: how many attempts of each kind were tried and held.
    print(f"role x route matrix: {sum(tally.values())} calls, {dict(tally)}")
    assert tally["404"] >= 50 and tally["403"] >= 200 and tally["401"] >= 50
