"""Which endpoint may receive which event: the tenant wall for outgoing webhooks."""

from __future__ import annotations

import json
from collections.abc import Collection

from settlement.outbox import OutboxEventType

ALL_TYPES = "*"
# Offers are public to every publisher (they show them to their members); everything else
# that names a member goes only to that member's publisher; the rest only to admins.
PUBLIC_PREFIXES = ("offer.",)


def event_types_of(stored: str) -> frozenset[str]:
    return frozenset(json.loads(stored))


def visible_to(
    *,
    endpoint_publisher_id: int | None,
    event_type: str,
    member_publisher_id: int | None,
) -> bool:
    """Whether an endpoint of this owner may receive an event of this type and member."""
    if endpoint_publisher_id is None:
        return True
    if event_type.startswith(PUBLIC_PREFIXES):
        return True
    return member_publisher_id is not None and member_publisher_id == endpoint_publisher_id


def wants(types: Collection[str], event_type: str) -> bool:
    return ALL_TYPES in types or event_type in types


def known_types() -> list[str]:
    return [t.value for t in OutboxEventType]
