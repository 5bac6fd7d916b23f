import pickle
from datetime import UTC, datetime, timedelta, timezone

import pytest

from matching.events import Channel, EventKind, EventRejected, Source, parse_event


def csv_row(**changes: object) -> dict[str, object]:
    """A feed file row: every value a string, as csv.DictReader gives it."""
    row: dict[str, object] = {
        "external_id": "txn-1001",
        "kind": "auth",
        "card_id": "42",
        "amount": "4000",
        "currency": "USD",
        "occurred_at": "2024-06-03T12:00:00-04:00",
        "mid": "MID-A",
        "acquirer_id": "",
        "descriptor": "BLUE BOTTLE #12",
        "merchant_name": "",
        "mcc": "5814",
        "country": "US",
        "postal_code": "10001",
        "brand_hint": "",
        "channel": "",
        "original_external_id": "",
    }
    row.update(changes)
    return row


def rejection(raw: dict[str, object]) -> EventRejected:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw, Source.FILE)
    return caught.value


def test_csv_row_becomes_a_canonical_event_in_utc() -> None:
    event = parse_event(csv_row(), Source.FILE)
    assert event.source is Source.FILE
    assert event.external_id == "txn-1001"
    assert event.kind is EventKind.AUTH
    assert event.card_id == 42
    assert event.amount == 4_000
    assert event.currency == "USD"
    # 12:00 at -04:00 is 16:00 UTC
    assert event.occurred_at == datetime(2024, 6, 3, 16, 0, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC
    assert event.mid == "MID-A"
    assert event.descriptor == "BLUE BOTTLE #12"
    assert event.mcc == "5814"
    assert (event.acquirer_id, event.merchant_name, event.brand_hint) == (None, None, None)
    assert event.original_external_id is None
    assert event.channel is Channel.IN_STORE


def test_json_types_are_accepted() -> None:
    raw = {
        "external_id": "w-1",
        "kind": "clearing",
        "card_id": 42,
        "amount": 1_250,
        "currency": "EUR",
        "occurred_at": "2024-06-03T16:00:00Z",
        "mid": 123456,
        "channel": "online",
        "original_external_id": "w-0",
    }
    event = parse_event(raw, Source.NETWORK)
    assert (event.card_id, event.amount, event.mid) == (42, 1_250, "123456")
    assert event.channel is Channel.ONLINE
    assert event.occurred_at == datetime(2024, 6, 3, 16, 0, tzinfo=UTC)
    assert event.original_external_id == "w-0"


def test_strings_are_stripped() -> None:
    event = parse_event(
        csv_row(external_id="  txn-7 ", mid=" MID-A ", amount=" 99 ", kind=" CLEARING "),
        Source.FILE,
    )
    assert (event.external_id, event.mid, event.amount) == ("txn-7", "MID-A", 99)
    assert event.kind is EventKind.CLEARING


def test_an_unknown_field_is_refused_naming_it() -> None:
    with pytest.raises(EventRejected) as exc:
        parse_event(csv_row(extra="x"), Source.FILE)
    assert (exc.value.field, exc.value.reason) == ("extra", "unknown_field")
    assert exc.value.detail == "'extra' is not a card event field"


def test_whitespace_only_optional_field_is_missing() -> None:
    assert parse_event(csv_row(mid="   ", brand_hint=None), Source.FILE).mid is None


def test_aware_datetime_object_is_accepted_and_converted() -> None:
    paris_summer = timezone(timedelta(hours=2))
    event = parse_event(
        csv_row(occurred_at=datetime(2024, 6, 3, 18, 0, tzinfo=paris_summer)), Source.PLAID
    )
    assert event.occurred_at == datetime(2024, 6, 3, 16, 0, tzinfo=UTC)
    assert event.occurred_at.tzinfo is UTC


def test_largest_amount_and_longest_external_id_are_accepted() -> None:
    event = parse_event(csv_row(amount=str(10**12), external_id="x" * 128), Source.FILE)
    assert event.amount == 10**12


@pytest.mark.parametrize(
    "field", ["external_id", "kind", "card_id", "amount", "currency", "occurred_at"]
)
@pytest.mark.parametrize("missing", [None, "", "   "])
def test_required_field_missing(field: str, missing: object) -> None:
    raw = csv_row()
    if missing is None:
        del raw[field]
    else:
        raw[field] = missing
    error = rejection(raw)
    assert (error.field, error.reason) == (field, "missing_field")


@pytest.mark.parametrize(
    "amount",
    [12.5, 40.0, "12.50", "-5", -5, 0, "0", 10**12 + 1, True, "1e3", "+5", "4,000", "١٢",
     "9" * 25, [4000]],
)  # fmt: skip
def test_invalid_amount(amount: object) -> None:
    error = rejection(csv_row(amount=amount))
    assert (error.field, error.reason) == ("amount", "invalid_amount")


@pytest.mark.parametrize("currency", ["usd", "XXX", "US", "DOLLARS"])
def test_invalid_currency(currency: str) -> None:
    error = rejection(csv_row(currency=currency))
    assert (error.field, error.reason) == ("currency", "invalid_currency")


def test_invalid_kind() -> None:
    error = rejection(csv_row(kind="purchase"))
    assert (error.field, error.reason) == ("kind", "invalid_kind")
    assert "auth" in error.detail


@pytest.mark.parametrize(
    "occurred_at", ["yesterday", "2024-13-01T00:00:00Z", "2024-06-03T25:00:00Z", "1" * 80, 17e8]
)
def test_invalid_timestamp(occurred_at: object) -> None:
    error = rejection(csv_row(occurred_at=occurred_at))
    assert (error.field, error.reason) == ("occurred_at", "invalid_timestamp")


@pytest.mark.parametrize(
    "occurred_at", ["2024-06-03T12:00:00", "2024-06-03", datetime(2024, 6, 3, 12, 0)]
)
def test_naive_timestamp(occurred_at: object) -> None:
    error = rejection(csv_row(occurred_at=occurred_at))
    assert (error.field, error.reason) == ("occurred_at", "naive_timestamp")


@pytest.mark.parametrize("card_id", ["abc", "0", 0, -1, 1.0, False, str(2**63)])
def test_invalid_card_id(card_id: object) -> None:
    error = rejection(csv_row(card_id=card_id))
    assert (error.field, error.reason) == ("card_id", "invalid_card_id")


def test_invalid_channel() -> None:
    error = rejection(csv_row(channel="phone"))
    assert (error.field, error.reason) == ("channel", "invalid_channel")


@pytest.mark.parametrize(("field", "length"), [("external_id", 129), ("descriptor", 256)])
def test_field_too_long(field: str, length: int) -> None:
    error = rejection(csv_row(**{field: "x" * length}))
    assert (error.field, error.reason) == (field, "field_too_long")


@pytest.mark.parametrize("kind", ["refund", "reversal"])
def test_refund_and_reversal_must_name_the_original(kind: str) -> None:
    error = rejection(csv_row(kind=kind, original_external_id=""))
    assert (error.field, error.reason) == ("original_external_id", "missing_original")
    refund = parse_event(csv_row(kind=kind, original_external_id="txn-1000"), Source.FILE)
    assert refund.original_external_id == "txn-1000"


@pytest.mark.parametrize("value", [[1], {"a": 1}, 1.5, True])
def test_identifier_of_the_wrong_type(value: object) -> None:
    error = rejection(csv_row(mid=value))
    assert (error.field, error.reason) == ("mid", "invalid_type")


def test_rejection_is_a_readable_picklable_value_error() -> None:
    error = rejection(csv_row(amount="12.50"))
    assert isinstance(error, ValueError)
    assert str(error).startswith("amount: ")
    assert "invalid_amount" in str(error)
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - bytes made two lines up
    assert (copy.field, copy.reason, copy.detail) == (error.field, error.reason, error.detail)
