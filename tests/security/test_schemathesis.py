"""Schemathesis over the served OpenAPI document, on both databases.

Every operation gets a bounded number of generated requests (a fixed seed, so a failure
reproduces) from an admin, who may call them all, in the two-tenant world. Checks: no server
error, every status documented by the operation, responses matching their schemas and
content types. All operations share the test's database: the generated writes are harmless
to one another, and a fresh database per operation would multiply the suite's time.
"""

from __future__ import annotations

from collections import Counter

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from schemathesis.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.result import Err
from sqlalchemy import Engine

from service.app import create_app
from service.auth import Role
from service.config import Settings
from tests.security.world import build_world
from tests.service.api_client import FEED_KEYS, TEST_ENCRYPTION_KEY, Api, bearer, issue_key

EXAMPLES_PER_OPERATION = 8
SEED = 20261130


@schemathesis.check
def no_server_error(ctx, response, case) -> bool | None:
    """Never a 500; a 502/503 only as the problem document an operation that reaches a
    payment provider documents (the provider is not configured in this world)."""
    status = response.status_code
    problem = response.headers.get("content-type", [""])[0].startswith("application/problem")
    if status >= 500 and not (status in (502, 503) and problem):
        raise AssertionError(f"server error {status}: {response.text[:300]}")
    return None


CHECKS = [
    no_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]


def test_generated_requests_get_documented_answers(engine: Engine) -> None:
    # Failed authentications are part of fuzzing: the limiter must not answer 429 instead.
    app_settings = Settings(
        environment="test",
        feed_signing_keys=FEED_KEYS,
        auth_failures_per_key="100000/minute",
        auth_failures_per_address="100000/minute",
        stripe_webhook_secret="whsec_fuzz_0123456789abcdef",
        encryption_keys=[TEST_ENCRYPTION_KEY],
    )
    app = create_app(engine=engine, settings=app_settings)
    statuses: Counter[int] = Counter()
    with TestClient(app) as client:
        admin = bearer(issue_key(engine))
        publisher = bearer(issue_key(engine, role=Role.PUBLISHER))
        build_world(Api(client, engine, admin, publisher, admin))
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = []
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()  # the schema itself does not load
            operations.append(result.ok())
        for operation in operations:

            @seed(SEED)
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                derandomize=True,
                database=None,
                deadline=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy())
            def generated(case) -> None:
                response = case.call_and_validate(headers=dict(admin), checks=CHECKS)
                statuses[response.status_code] += 1

            generated()
    print(
        f"schemathesis: {len(operations)} operations, {sum(statuses.values())} requests, "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert len(operations) >= 50 and sum(statuses.values()) >= 5 * len(operations)
