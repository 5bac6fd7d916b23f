"""Check response bodies against Plaid's published OpenAPI spec (plaid-2020-09-14.yml).

The spec is OpenAPI 3.0; `jsonschema` speaks JSON Schema 2020-12. The converter below turns
the component schemas into 2020-12 (`nullable: true` becomes "or null", boolean
`exclusiveMinimum`/`exclusiveMaximum` become numbers) and registers them under one URI so
`#/components/schemas/...` references resolve. Loading the 3 MB YAML takes about a second,
so it happens once per process.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import threading
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_ENV = "CLO_PLAID_SPEC"
SPEC_FILE_NAME = "plaid-2020-09-14.yml"
_SPEC_URI = "urn:clo:plaid-openapi"
_MAX_ERRORS_REPORTED = 5


class SpecViolationError(AssertionError):
    """A body does not match the schema the spec gives for it."""

    def __init__(self, where: str, problems: list[str]) -> None:
        self.where = where
        self.problems = problems
        super().__init__(f"{where}: " + "; ".join(problems))


def repo_root() -> Path:
    """The directory holding pyproject.toml, found by walking up from this file."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    raise FileNotFoundError(f"no pyproject.toml above {here}")


def spec_path() -> Path:
    override = os.environ.get(SPEC_ENV)
    if override:
        return Path(override)
    return repo_root().parent / "shared" / "specs" / SPEC_FILE_NAME


def convert_openapi_schema(node: Any) -> Any:
    """Translate one OpenAPI 3.0 schema (recursively) into JSON Schema 2020-12."""
    if isinstance(node, list):
        return [convert_openapi_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("example", "examples", "externalDocs", "xml", "discriminator", "nullable"):
            continue
        if key.startswith("x-"):
            continue
        if key in ("properties", "patternProperties", "$defs", "definitions"):
            out[key] = {name: convert_openapi_schema(sub) for name, sub in value.items()}
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and isinstance(value, bool):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            if value and bound in node:
                out[key] = node[bound]
        elif key in ("enum", "required", "const", "default", "type"):
            out[key] = value
        else:
            out[key] = convert_openapi_schema(value)
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(flag) is True and bound in node:
            out.pop(bound, None)  # OpenAPI 3.0 `minimum: 1, exclusiveMinimum: true` means > 1
    if node.get("nullable") is True:
        out = _allow_null(out)
    return out


def _allow_null(schema: dict[str, Any]) -> dict[str, Any]:
    simple = "type" in schema and not any(k in schema for k in ("allOf", "anyOf", "oneOf", "$ref"))
    if simple:
        kind = schema["type"]
        kinds = list(kind) if isinstance(kind, list) else [kind]
        if "null" not in kinds:
            kinds.append("null")
        schema = {**schema, "type": kinds}
        if "enum" in schema and None not in schema["enum"]:
            schema["enum"] = [*schema["enum"], None]
        return schema
    return {"anyOf": [{"type": "null"}, schema]}


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_FORMATS = FormatChecker(formats=())


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        raise ValueError(f"{value!r} is not a YYYY-MM-DD date")
    dt.date.fromisoformat(value)
    return True


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.match(value):
        raise ValueError(f"{value!r} is not an RFC 3339 date-time")
    dt.datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    return True


class PlaidSpec:
    """The loaded spec: response schemas per path and status, and validators for them."""

    def __init__(self, raw: dict[str, Any]) -> None:
        components = raw.get("components", {}).get("schemas", {})
        self.schemas = {name: convert_openapi_schema(s) for name, s in components.items()}
        self.paths: dict[str, dict[str, str]] = {}
        for path, item in raw.get("paths", {}).items():
            responses = (item.get("post") or {}).get("responses", {})
            by_status: dict[str, str] = {}
            for status, response in responses.items():
                schema = response.get("content", {}).get("application/json", {}).get("schema", {})
                ref = schema.get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    by_status[str(status)] = ref.rsplit("/", 1)[1]
            self.paths[path] = by_status
        resource = Resource.from_contents(
            {"components": {"schemas": self.schemas}}, default_specification=DRAFT202012
        )
        self._registry: Registry = Registry().with_resource(_SPEC_URI, resource)
        self._validators: dict[str, Draft202012Validator] = {}
        self._lock = threading.Lock()

    def validator(self, schema_name: str) -> Draft202012Validator:
        if schema_name not in self.schemas:
            raise KeyError(f"no schema {schema_name!r} in the Plaid spec")
        with self._lock:
            found = self._validators.get(schema_name)
            if found is None:
                ref = {"$ref": f"{_SPEC_URI}#/components/schemas/{schema_name}"}
                found = Draft202012Validator(ref, registry=self._registry, format_checker=_FORMATS)
                self._validators[schema_name] = found
            return found

    def response_schema_name(self, path: str, status: int) -> str:
        by_status = self.paths.get(path)
        if by_status is None:
            if status >= 400:
                return "PlaidError"  # e.g. NOT_FOUND for a path the API does not have
            raise KeyError(f"{path} is not a path in the Plaid spec")
        name = by_status.get(str(status)) or by_status.get("default")
        if name is None:
            raise KeyError(f"the spec gives no response schema for {path} {status}")
        return name

    def problems(self, schema_name: str, body: Any) -> list[str]:
        errors = sorted(
            self.validator(schema_name).iter_errors(body), key=lambda e: list(e.absolute_path)
        )
        found = []
        for error in errors[:_MAX_ERRORS_REPORTED]:
            where = "/".join(str(part) for part in error.absolute_path) or "(root)"
            found.append(f"{where}: {error.message[:300]}")
        if len(errors) > _MAX_ERRORS_REPORTED:
            found.append(f"... and {len(errors) - _MAX_ERRORS_REPORTED} more")
        return found


@functools.cache
def _load(path: str) -> PlaidSpec:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader
    return PlaidSpec(raw)


def load_spec(path: str | os.PathLike[str] | None = None) -> PlaidSpec:
    """The parsed spec, loaded once per process per path."""
    chosen = Path(path) if path is not None else spec_path()
    if not chosen.is_file():
        raise FileNotFoundError(
            f"Plaid OpenAPI spec not found at {chosen} (set {SPEC_ENV} to its location)"
        )
    return _load(str(chosen.resolve()))


def validate_response(path: str, status: int, body: Any) -> None:
    """Raise SpecViolationError unless `body` is what the spec allows for `path` at `status`."""
    spec = load_spec()
    schema_name = spec.response_schema_name(path, status)
    problems = spec.problems(schema_name, body)
    if problems:
        raise SpecViolationError(f"POST {path} -> {status} ({schema_name})", problems)


WEBHOOK_SCHEMAS: dict[tuple[str, str], str] = {
    ("TRANSACTIONS", "SYNC_UPDATES_AVAILABLE"): "SyncUpdatesAvailableWebhook",
    ("TRANSACTIONS", "DEFAULT_UPDATE"): "DefaultUpdateWebhook",
    ("TRANSACTIONS", "INITIAL_UPDATE"): "InitialUpdateWebhook",
    ("TRANSACTIONS", "HISTORICAL_UPDATE"): "HistoricalUpdateWebhook",
    ("TRANSACTIONS", "TRANSACTIONS_REMOVED"): "TransactionsRemovedWebhook",
    ("ITEM", "ERROR"): "ItemErrorWebhook",
    ("ITEM", "LOGIN_REPAIRED"): "ItemLoginRepairedWebhook",
    ("ITEM", "PENDING_DISCONNECT"): "PendingDisconnectWebhook",
    ("ITEM", "USER_PERMISSION_REVOKED"): "UserPermissionRevokedWebhook",
    ("ITEM", "USER_ACCOUNT_REVOKED"): "UserAccountRevokedWebhook",
    ("ITEM", "NEW_ACCOUNTS_AVAILABLE"): "NewAccountsAvailableWebhook",
    ("ITEM", "WEBHOOK_UPDATE_ACKNOWLEDGED"): "WebhookUpdateAcknowledgedWebhook",
}


def validate_webhook(body: Any) -> None:
    """Raise SpecViolationError unless `body` matches the spec's schema for its webhook code."""
    key = (body.get("webhook_type", ""), body.get("webhook_code", ""))
    schema_name = WEBHOOK_SCHEMAS.get(key)
    if schema_name is None:
        raise SpecViolationError(f"webhook {key}", ["no schema known for this webhook"])
    problems = load_spec().problems(schema_name, body)
    if problems:
        raise SpecViolationError(f"webhook {key[0]}/{key[1]} ({schema_name})", problems)
