"""A route: method, path template (`/v1/invoices/{id}/pay`), handler, accepted parameters."""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Callable[..., dict[str, Any]]
    # top-level parameters the endpoint accepts (others → 400 parameter_unknown); None: any
    allowed: Set[str] | None
    pattern: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.template)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.pattern.match(path)
        return found.groupdict() if found else None


def names(text: str) -> frozenset[str]:
    """`names("amount currency")` → the accepted-parameter set {"amount", "currency"}."""
    return frozenset(text.split())


LIST_PARAMS = names("created ending_before limit starting_after")
