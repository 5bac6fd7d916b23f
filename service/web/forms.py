"""Forms: the API's problem documents shown as field errors, and one-shot form tokens.

A page validates a form with the same request model as the API and calls the same domain
service; whatever it raises (a `Problem`, or pydantic's `ValidationError`) becomes the same
`errors` list the API would return, keyed by field, so a page can show each next to its
input and keep what was typed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service.problems import Problem
from service.security.card_numbers import find_card_number_field
from service.web.i18n import N_
from service.web.tables import WebFormSubmission

FORM_TOKEN_FIELD = "form_token"  # noqa: S105


@dataclass
class FormErrors:
    """Field name → message; `general` for a problem that names no field of the form."""

    fields: dict[str, str] = field(default_factory=dict)
    general: str | None = None
    status: int = 422

    def __bool__(self) -> bool:
        return bool(self.fields) or self.general is not None

    def problem_document(self) -> dict[str, Any]:
        """The same shape as the API's problem documents (for tests and htmx callers)."""
        errors = [{"field": k, "message": v} for k, v in self.fields.items()]
        return {"status": self.status, "detail": self.general, "errors": errors}


def errors_from_problem(
    problem: Problem, form_fields: Container[str], gettext: Callable[[str], str] = str
) -> FormErrors:
    """The problem's detail next to the field it names (translated when the catalog has it)."""
    found = FormErrors(status=problem.status)
    detail = gettext(problem.detail)
    if problem.field and problem.field in form_fields:
        found.fields[problem.field] = detail
    else:
        found.general = detail
    return found


# Pydantic's error types in words a person can act on (and translate); others keep
# pydantic's own message. Field-specific ones first.
PLAIN_MESSAGES = {
    ("email", "string_pattern_mismatch"): N_("Enter an email address like name@example.com."),
    ("*", "missing"): N_("Fill this in."),
    ("*", "string_too_short"): N_("Use at least %(min_length)s characters."),
    ("*", "string_too_long"): N_("Use at most %(max_length)s characters."),
    ("*", "int_parsing"): N_("Enter a whole number."),
    ("*", "greater_than_equal"): N_("Enter %(ge)s or more."),
    ("*", "less_than_equal"): N_("Enter %(le)s or less."),
}


def _plain(name: str, err: dict[str, Any], gettext: Callable[[str], str]) -> str:
    kind = err.get("type", "")
    text = PLAIN_MESSAGES.get((name, kind)) or PLAIN_MESSAGES.get(("*", kind))
    if text is None:
        return str(err.get("msg", "invalid"))
    return gettext(text) % (err.get("ctx") or {})


def errors_from_validation(
    exc: ValidationError, form_fields: Container[str], gettext: Callable[[str], str] = str
) -> FormErrors:
    """Pydantic errors by field; messages never echo the input (it may hold a card number)."""
    found = FormErrors()
    for err in exc.errors(include_input=False):
        name = ".".join(str(p) for p in err.get("loc", ())) or "body"
        message = _plain(name, dict(err), gettext)
        if name in form_fields:
            found.fields.setdefault(name, message)
        elif found.general is None:
            found.general = f"{name}: {message}"
    return found


def validate(
    model: type[BaseModel], data: dict[str, Any], gettext: Callable[[str], str] = str
) -> tuple[Any, FormErrors]:
    """(model instance or None, errors) for form data checked by the API's request model.

    Only the model's own fields are taken (a form also carries its CSRF and form tokens);
    a field holding what looks like a full card number is refused as the API refuses it,
    and blanked in `data` so the page never echoes the number back.
    """
    values = {k: v for k, v in data.items() if k in model.model_fields and v != ""}
    for name, value in values.items():
        if isinstance(value, str) and find_card_number_field(value) is not None:
            data[name] = ""
            found = FormErrors()
            found.fields[name] = gettext(
                "This looks like a card number. Card numbers are never typed here."
            )
            return None, found
    try:
        return model.model_validate(values), FormErrors()
    except ValidationError as exc:
        return None, errors_from_validation(exc, set(model.model_fields), gettext)


def new_form_token() -> str:
    return secrets.token_urlsafe(24)


def earlier_result(session: Session, token: str | None) -> str | None:
    """Where the first submission of this form went, if it was already submitted."""
    if not token or len(token) > 64:
        return None
    row = session.get(WebFormSubmission, token)
    return row.result_path if row is not None else None


def remember_result(
    session: Session,
    token: str | None,
    *,
    audience: str,
    subject_id: int | None,
    result_path: str,
    now: datetime,
) -> bool:
    """Keep a successful submission's result; False when a concurrent twin got there first
    (the caller rolls back its own work and follows the twin's result)."""
    if not token or len(token) > 64:
        return True
    try:
        with session.begin_nested():
            session.add(
                WebFormSubmission(
                    token=token,
                    audience=audience,
                    subject_id=subject_id,
                    result_path=result_path,
                    created_at=now,
                )
            )
            session.flush()
    except IntegrityError:
        return False
    return True
