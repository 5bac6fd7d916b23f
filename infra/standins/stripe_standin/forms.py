"""Stripe's form encoding: `a[b]=1`, `items[0][price]=x`, `expand[]=y` → nested dicts and lists.

Scalars stay strings (as on the wire); handlers coerce them with the helpers below, which
raise Stripe-shaped 400s (`Invalid integer: abc`, `Invalid boolean: yes`, ...).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from . import errors

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")
_APPEND = "\x00append"

MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_CHARS = 40
MAX_METADATA_VALUE_CHARS = 500

# Request options the SDK consumes itself; they never reach the wire but are harmless.
_ALWAYS_ALLOWED = frozenset({"expand"})


def split_key(key: str) -> list[str]:
    match = _KEY.match(key)
    if not match:
        return [key]
    return [match.group(1), *_PART.findall(match.group(2))]


def parse_form(body: str) -> dict[str, Any]:
    """Parse an `application/x-www-form-urlencoded` body or query string."""
    root: dict[str, Any] = {}
    counter = 0
    for raw_key, value in parse_qsl(body, keep_blank_values=True):
        parts = split_key(raw_key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            name = part
            if part == "":
                counter += 1
                name = f"{_APPEND}{counter:08d}"
            if last:
                node[name] = value
            else:
                child = node.get(name)
                if not isinstance(child, dict):
                    child = {}
                    node[name] = child
                node = child
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() or k.startswith(_APPEND) for k in converted):
        indexed = sorted((int(k), v) for k, v in converted.items() if k.isdigit())
        appended = [v for k, v in sorted(converted.items()) if k.startswith(_APPEND)]
        return [v for _, v in indexed] + appended
    return converted


def check_params(params: Mapping[str, Any], allowed: Iterable[str] | None) -> None:
    if allowed is None:
        return
    allowed_set = set(allowed) | _ALWAYS_ALLOWED
    for key in params:
        if key not in allowed_set:
            raise errors.unknown_param(key)


def require(params: Mapping[str, Any], name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise errors.missing(name)
    return value


def opt_str(params: Mapping[str, Any], name: str, default: str | None = None) -> str | None:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, str):
        raise errors.invalid(f"Invalid string: {value!r}", param=name)
    return value if value != "" else None


def req_str(params: Mapping[str, Any], name: str) -> str:
    require(params, name)
    value = opt_str(params, name)
    assert value is not None
    return value


def opt_int(
    params: Mapping[str, Any],
    name: str,
    default: int | None = None,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise errors.invalid(f"Invalid integer: {value}", param=name) from None
    if minimum is not None and number < minimum:
        raise errors.invalid(f"This value must be greater than or equal to {minimum}.", param=name)
    if maximum is not None and number > maximum:
        raise errors.invalid(f"This value must be less than or equal to {maximum}.", param=name)
    return number


def req_int(params: Mapping[str, Any], name: str, *, minimum: int | None = None) -> int:
    require(params, name)
    value = opt_int(params, name, minimum=minimum)
    assert value is not None
    return value


def opt_bool(params: Mapping[str, Any], name: str, default: bool | None = None) -> bool | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise errors.invalid(f"Invalid boolean: {value}", param=name)


def opt_enum(
    params: Mapping[str, Any], name: str, choices: Iterable[str], default: str | None = None
) -> str | None:
    value = opt_str(params, name, default)
    options = list(choices)
    if value is not None and value not in options:
        raise errors.invalid(f"Invalid {name}: must be one of {', '.join(options)}", param=name)
    return value


def opt_dict(params: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, dict):
        raise errors.invalid(f"Invalid object: {name}", param=name)
    return value


def opt_list(params: Mapping[str, Any], name: str) -> list[Any] | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list):
        raise errors.invalid(f"Invalid array: {name}", param=name)
    return value


def currency(
    params: Mapping[str, Any], name: str = "currency", default: str | None = None
) -> str | None:
    value = opt_str(params, name, default)
    if value is None:
        return None
    value = value.lower()
    if not re.fullmatch(r"[a-z]{3}", value):
        raise errors.invalid(f"Invalid currency: {value}.", param=name)
    return value


def metadata(
    params: Mapping[str, Any], existing: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Stripe's metadata semantics: keys merge, `metadata[k]=` unsets k, `metadata=` clears all."""
    current = dict(existing or {})
    if "metadata" not in params:
        return current
    incoming = params["metadata"]
    if incoming == "":
        return {}
    if not isinstance(incoming, dict):
        raise errors.invalid("Invalid object", param="metadata")
    for key, value in incoming.items():
        if not isinstance(value, str):
            raise errors.invalid(
                "Metadata values must be strings (nested objects are not allowed).",
                param=f"metadata[{key}]",
            )
        if len(key) > MAX_METADATA_KEY_CHARS:
            raise errors.invalid(
                f"Metadata keys can have up to {MAX_METADATA_KEY_CHARS} characters.",
                param=f"metadata[{key}]",
            )
        if len(value) > MAX_METADATA_VALUE_CHARS:
            raise errors.invalid(
                f"Metadata values can have up to {MAX_METADATA_VALUE_CHARS} characters.",
                param=f"metadata[{key}]",
            )
        if value == "":
            current.pop(key, None)
        else:
            current[key] = value
    if len(current) > MAX_METADATA_KEYS:
        raise errors.invalid(f"Metadata can have up to {MAX_METADATA_KEYS} keys.", param="metadata")
    return current


def expand_paths(params: Mapping[str, Any]) -> list[str]:
    value = params.get("expand")
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise errors.invalid("Invalid array", param="expand")
