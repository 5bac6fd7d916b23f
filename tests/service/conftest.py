"""Fixtures the service tests share: one Plaid stand-in per test module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infra.standins.plaid_standin import PlaidStandin


@pytest.fixture(scope="module")
def shared_plaid() -> Iterator[PlaidStandin]:
    with PlaidStandin(strict=True) as standin:
        yield standin


@pytest.fixture
def standin(shared_plaid: PlaidStandin) -> PlaidStandin:
    shared_plaid.reset()
    return shared_plaid
