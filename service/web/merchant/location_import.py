"""Locations from a CSV file: every line checked by the API's own `LocationCreate` and the
merchants service, errors reported per line, and nothing imported unless every line is good.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import ValidationError
from sqlmodel import Session

from service.merchants import repository as repo
from service.merchants import service as merchants
from service.merchants.schemas import LocationCreate
from service.problems import Problem
from service.security.card_numbers import find_card_number_field
from service.tables import Merchant
from service.web.forms import errors_from_validation
from service.web.i18n import N_

COLUMNS = ("name", "mid", "acquirer_id", "postal_code", "country")
MAX_LINES = 1000


# Pydantic's pattern errors quote a regular expression; say what is wanted instead.
PATTERN_MESSAGES = {
    "country": N_("Use the two capital letters of the country, like US."),
    "mid": N_("Use letters, digits and punctuation, without spaces."),
}


def friendlier(fields: dict[str, str], gettext=str) -> dict[str, str]:
    return {
        name: gettext(PATTERN_MESSAGES[name])
        if name in PATTERN_MESSAGES and message.startswith("String should match pattern")
        else message
        for name, message in fields.items()
    }


@dataclass
class LineError:
    line: int  # as a spreadsheet numbers it: the header is line 1
    field: str
    message: str


@dataclass
class ImportResult:
    imported: int = 0
    errors: list[LineError] = field(default_factory=list)


def _rows(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[LineError]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("name", "mid") if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown:
        detail = N_(
            "The first line must name the columns: name, mid, and optionally "
            "acquirer_id, postal_code, country."
        )
        return [], [LineError(1, "file", detail)]
    reader.fieldnames = header
    rows = []
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_LINES:
            return [], [LineError(number, "file", N_("At most 1000 locations per file."))]
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # blank line
        rows.append((number, {k: (v or "").strip() for k, v in row.items() if k in COLUMNS}))
    return rows, []


def import_locations(
    session: Session, merchant: Merchant, raw: bytes, *, now: datetime, gettext=str
) -> ImportResult:
    """All the file's locations, or none: the caller rolls back when errors come back."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportResult(
            errors=[LineError(1, "file", gettext(N_("Save the file as UTF-8 CSV.")))]
        )
    rows, errors = _rows(text)
    result = ImportResult(errors=[LineError(e.line, e.field, gettext(e.message)) for e in errors])
    if result.errors:
        return result
    if not rows:
        result.errors.append(LineError(1, "file", gettext(N_("The file has no locations."))))
        return result
    seen: dict[str, int] = {}
    valid: list[tuple[int, LocationCreate]] = []
    for number, row in rows:
        values = {k: v for k, v in row.items() if v}
        if any(find_card_number_field(v) is not None for v in values.values()):
            message = N_("This looks like a card number. Card numbers are never typed here.")
            result.errors.append(LineError(number, "line", gettext(message)))
            continue
        try:
            data = LocationCreate.model_validate(values)
        except ValidationError as exc:
            found = errors_from_validation(exc, set(COLUMNS), gettext)
            for name, message in friendlier(found.fields, gettext).items():
                result.errors.append(LineError(number, name, message))
            continue
        if data.mid in seen:
            message = gettext(
                N_("MID %(mid)s is also on line %(line)s."), mid=data.mid, line=seen[data.mid]
            )
            result.errors.append(LineError(number, "mid", message))
            continue
        seen[data.mid] = number
        if repo.location_by_mid(session, data.mid) is not None:
            message = gettext(N_("MID %(mid)s is already registered."), mid=data.mid)
            result.errors.append(LineError(number, "mid", message))
            continue
        valid.append((number, data))
    if result.errors:
        return result
    for number, data in valid:
        try:
            merchants.create_location(session, merchant, data, now=now)
        except Problem as exc:  # a MID registered a moment ago by someone else
            result.errors.append(LineError(number, exc.field or "line", gettext(exc.detail)))
            return result
    result.imported = len(valid)
    return result
