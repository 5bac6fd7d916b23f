"""The offer form: what a person types (amounts in the currency's units, rates in percent,
times on the merchant's wall clock) to and from the API's offer fields.

Inputs are named after the API's fields, so a problem document naming `min_spend_amount`
lands next to the minimum-spend input. Conversion is exact (Decimal, never float).
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from matching.money import currency_exponent
from service.offers.catalog import aware
from service.offers.schemas import OfferFields
from service.tables import Offer
from service.web.forms import FormErrors
from service.web.i18n import N_

MONEY_FIELDS = (
    "reward_amount", "max_reward_amount", "min_spend_amount", "member_max_reward_amount",
    "budget_amount", "threshold_amount",
)  # fmt: skip
PERCENT_FIELDS = ("rate_bps", "holdout_bps", "birthday_bonus_bps")
INT_FIELDS = (
    "lookback_days", "member_max_rewards", "max_redemptions", "stamp_every_n", "hold_days",
    "min_member_tier",
)  # fmt: skip
CHOICE_FIELDS = ("title", "kind", "reward_type", "audience", "channel")
TIME_FIELDS = ("starts_at", "ends_at")
DAYPART_FIELDS = ("daypart_days", "daypart_start", "daypart_end")
# Every input of the form, for placing errors.
FORM_FIELDS = frozenset(
    (*MONEY_FIELDS, *PERCENT_FIELDS, *INT_FIELDS, *CHOICE_FIELDS, *TIME_FIELDS,
     *DAYPART_FIELDS, "activation_required", "location_ids", "dayparts")
)  # fmt: skip

BAD_AMOUNT = N_("Enter an amount like 12.50.")
BAD_PERCENT = N_("Enter a percentage like 5 or 7.5 (at most two decimals).")
BAD_NUMBER = N_("Enter a whole number.")
BAD_TIME = N_("Enter a date and time.")
BAD_CLOCK = N_("Enter a time like 07:00.")


def _money(text: str, currency: str) -> int:
    value = Decimal(text.replace(",", "").strip())
    minor = value.scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value() or not value.is_finite():
        raise InvalidOperation
    return int(minor)


def _percent_bps(text: str) -> int:
    value = Decimal(text.replace("%", "").strip()) * 100
    if not value.is_finite() or value != value.to_integral_value():
        raise InvalidOperation
    return int(value)


def _local_time(text: str, timezone: str) -> datetime:
    naive = datetime.fromisoformat(text.strip())
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=ZoneInfo(timezone))


def _clock_minutes(text: str, *, end: bool) -> int:
    hours, _, minutes = text.strip().partition(":")
    value = int(hours) * 60 + int(minutes or 0)
    if end and value == 0:
        return 1440  # "until 00:00" is midnight at the end of the day
    if not 0 <= value <= 1440:
        raise ValueError
    return value


def to_api(
    form: dict[str, Any], lists: dict[str, list[str]], *, currency: str, timezone: str
) -> tuple[dict[str, Any], FormErrors]:
    """The API's offer fields from the form, and errors for inputs that are not numbers."""
    errors = FormErrors()
    api: dict[str, Any] = {}

    def text(name: str) -> str:
        value = form.get(name)
        return value.strip() if isinstance(value, str) else ""

    for name in CHOICE_FIELDS:
        if text(name):
            api[name] = text(name)
    conversions = (
        (MONEY_FIELDS, lambda v: _money(v, currency), BAD_AMOUNT),
        (PERCENT_FIELDS, _percent_bps, BAD_PERCENT),
        (INT_FIELDS, int, BAD_NUMBER),
        (TIME_FIELDS, lambda v: _local_time(v, timezone), BAD_TIME),
    )
    for names, convert, message in conversions:
        for name in names:
            if not text(name):
                continue
            try:
                api[name] = convert(text(name))
            except (InvalidOperation, ValueError, OverflowError):
                errors.fields[name] = message
    api["activation_required"] = form.get("activation_required") in ("on", "true", "1")
    api["location_ids"] = [int(v) for v in lists.get("location_ids", []) if v.isdigit()]
    days = [int(d) for d in lists.get("daypart_days", []) if d.isdigit()]
    start, end = text("daypart_start"), text("daypart_end")
    api["dayparts"] = []
    if days or start or end:
        try:
            window = {
                "weekdays": days,
                "start_minute": _clock_minutes(start or "00:00", end=False),
                "end_minute": _clock_minutes(end or "24:00", end=True),
            }
        except ValueError:
            errors.fields["daypart_start" if start else "daypart_end"] = BAD_CLOCK
        else:
            if not days:
                errors.fields["daypart_days"] = N_("Tick at least one day for the time window.")
            api["dayparts"] = [window]
    return api, errors


def place_errors(errors: FormErrors) -> FormErrors:
    """API field paths onto the form's inputs: `dayparts.0.end_minute` is the window's end."""
    placed = FormErrors(status=errors.status, general=errors.general)
    for name, message in errors.fields.items():
        if name.startswith("dayparts"):
            key = "daypart_end" if "end" in name else "daypart_start"
            key = "daypart_days" if "weekdays" in name else key
            placed.fields.setdefault(key, message)
        elif name.startswith("location_ids"):
            placed.fields.setdefault("location_ids", message)
        else:
            placed.fields.setdefault(name, message)
    return placed


def from_offer(offer: Offer, location_ids: list[int], timezone: str) -> dict[str, Any]:
    """What the form shows for a stored offer (the inverse of `to_api`)."""
    zone = ZoneInfo(timezone)
    exp = currency_exponent(offer.currency)
    values: dict[str, Any] = {name: getattr(offer, name) for name in CHOICE_FIELDS}
    values["channel"] = offer.channel or ""
    for name in MONEY_FIELDS:
        amount = getattr(offer, name)
        values[name] = "" if amount in (None, 0) else str(Decimal(amount).scaleb(-exp))
    for name in PERCENT_FIELDS:
        bps = getattr(offer, name)
        values[name] = "" if not bps else str((Decimal(bps) / 100).normalize())
    for name in INT_FIELDS:
        value = getattr(offer, name)
        values[name] = "" if value in (None, 0) and name != "hold_days" else str(value)
    for name in TIME_FIELDS:
        moment = aware(getattr(offer, name))
        values[name] = moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if moment else ""
    values["activation_required"] = offer.activation_required
    values["location_ids"] = [str(i) for i in location_ids]
    parts = json.loads(offer.dayparts_json or "[]")
    values["daypart_start"] = values["daypart_end"] = ""
    if parts:
        first = parts[0]
        values["daypart_days"] = [str(d) for d in first["weekdays"]]
        values["daypart_start"] = (
            f"{first['start_minute'] // 60:02d}:{first['start_minute'] % 60:02d}"
        )
        end = first["end_minute"]
        values["daypart_end"] = "00:00" if end >= 1440 else f"{end // 60:02d}:{end % 60:02d}"
    else:
        values["daypart_days"] = []
    return values


def api_fields() -> frozenset[str]:
    return frozenset(OfferFields.model_fields)


# The form's labels, also used to name a field in the preview's error list.
LABELS = {
    "title": N_("Title"),
    "kind": N_("Kind"),
    "reward_type": N_("Reward"),
    "rate_bps": N_("Cashback rate (%)"),
    "reward_amount": N_("Fixed reward"),
    "max_reward_amount": N_("Most cashback per purchase"),
    "min_spend_amount": N_("Minimum spend"),
    "stamp_every_n": N_("Pays every Nth visit"),
    "threshold_amount": N_("Spend goal"),
    "starts_at": N_("Starts"),
    "ends_at": N_("Ends"),
    "daypart_days": N_("Days"),
    "daypart_start": N_("From"),
    "daypart_end": N_("Until"),
    "channel": N_("Where members pay"),
    "audience": N_("Who can earn"),
    "lookback_days": N_("Lookback (days)"),
    "activation_required": N_("Members must activate first"),
    "holdout_bps": N_("Control group (%)"),
    "member_max_rewards": N_("Rewards per member"),
    "member_max_reward_amount": N_("Most cashback per member"),
    "budget_amount": N_("Total budget"),
    "max_redemptions": N_("Total redemptions"),
    "hold_days": N_("Hold (days) before cashback is available"),
    "location_ids": N_("Locations"),
    "min_member_tier": N_("Minimum member tier"),
    "birthday_bonus_bps": N_("Birthday month bonus (%)"),
}
