"""An offer's terms in plain language, from its rules, in English and Norsk bokmål."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from service.tables import Offer
from service.web.app.offer_terms import card_texts, headline, terms
from service.web.i18n import Formatter

NOW = datetime(2026, 11, 30, tzinfo=UTC)


def offer(**fields: Any) -> Offer:
    values: dict[str, Any] = {
        "merchant_id": 1,
        "title": "t",
        "status": "live",
        "kind": "cashback",
        "reward_type": "percent",
        "currency": "USD",
        "rate_bps": 500,
        "starts_at": NOW,
        "created_at": NOW,
        "updated_at": NOW,
    }
    values.update(fields)
    return Offer(**values)


def test_a_percent_offer_with_every_rule_reads_as_one_sentence() -> None:
    o = offer(
        min_spend_amount=1000,
        max_reward_amount=500,
        dayparts_json=json.dumps(
            [{"weekdays": [0, 1, 2, 3, 4], "start_minute": 420, "end_minute": 600}]
        ),
        audience="new",
        ends_at=datetime(2026, 12, 31, 12, tzinfo=UTC),
    )
    text = terms(o, Formatter("en"), timezone="America/New_York")
    assert text == (
        "5% back on $10.00 or more, up to $5.00, weekdays 7:00\u202fAM\u201310:00\u202fAM, "
        "new customers only, until Dec 31, 2026"
    )
    assert headline(o, Formatter("en")) == "5% back"


def test_stamp_cards_and_spend_thresholds_say_what_earns_the_reward() -> None:
    stamp = offer(kind="stamp_card", reward_type="fixed", reward_amount=500, stamp_every_n=5)
    assert terms(stamp, Formatter("en"), timezone="UTC") == "$5.00 back on every 5th visit"
    goal = offer(
        kind="spend_threshold", reward_type="fixed", reward_amount=1000, threshold_amount=5000
    )
    assert headline(goal, Formatter("en")) == "$10.00 when you spend $50.00"
    assert terms(goal, Formatter("en"), timezone="UTC") == (
        "Spend $50.00 in total and get $10.00 back"
    )


def test_a_stamp_card_says_its_visit_as_an_ordinal() -> None:
    """ "every 3rd visit", not "every 3th visit": English endings by the CLDR ordinal rule,
    11th-13th included; Norwegian writes "3."."""
    english = {1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th",
               21: "21st", 22: "22nd", 23: "23rd", 101: "101st", 111: "111th",
               1000: "1,000th"}  # fmt: skip
    assert {n: Formatter("en").ordinal(n) for n in english} == english
    assert Formatter("nb").ordinal(3) == "3."
    stamp = offer(kind="stamp_card", reward_type="fixed", reward_amount=400, stamp_every_n=3)
    assert headline(stamp, Formatter("en")) == "$4.00 every 3rd visit"
    assert terms(stamp, Formatter("en"), timezone="UTC") == "$4.00 back on every 3rd visit"
    assert headline(stamp, Formatter("nb")).endswith("hvert 3. besøk")


def test_norwegian_terms_use_norwegian_words_numbers_and_money() -> None:
    o = offer(rate_bps=750, min_spend_amount=10_000, channel="online", member_max_rewards=2)
    text = terms(o, Formatter("nb"), timezone="Europe/Oslo")
    assert text == (
        "7,5\u00a0% tilbake ved kjøp på 100,00\u00a0USD eller mer, bare på nett, "
        "2 ganger per medlem"
    )


def test_the_feed_texts_are_the_terms_and_follow_an_edit_of_the_same_offer() -> None:
    o = offer(id=7, min_spend_amount=1000, ends_at=datetime(2026, 12, 31, 12, tzinfo=UTC))
    en, nb = Formatter("en"), Formatter("nb")
    assert card_texts(o, en, timezone="UTC") == (
        "5% back",
        "5% back on $10.00 or more, until Dec 31, 2026",
    )
    assert card_texts(o, nb, timezone="UTC") == (headline(o, nb), terms(o, nb, timezone="UTC"))
    o.rate_bps, o.ends_at = 750, None  # the same id, new rules: new text, not the first one
    assert card_texts(o, en, timezone="UTC") == (
        "7.5% back",
        "7.5% back on $10.00 or more",
    )
