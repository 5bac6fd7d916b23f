from collections.abc import Iterable

from matching.index import OfferIndex, normalize_name
from matching.offers import OfferRules
from tests.matching.factories import BRAND, MID_TO_BRAND, make_event, make_offer

# Brand 10 owns MID-A and MID-B; brand 20 owns MID-Z.
AT_MID_A = make_offer(offer_id=1, location_mids=frozenset({"MID-A"}))
BRAND_WIDE = make_offer(offer_id=2)
BRAND_WIDE_EUR = make_offer(offer_id=3, currency="EUR")
OTHER_BRAND = make_offer(offer_id=4, merchant_id=20, brand_id=20)
ALIASES = {"plaid-entity-blue-bottle": BRAND, "Blue Bottle Coffee": BRAND}


def build(*offers: OfferRules) -> OfferIndex:
    """An index of the given offers, or of the four above when none are given."""
    chosen = offers or (AT_MID_A, BRAND_WIDE, BRAND_WIDE_EUR, OTHER_BRAND)
    return OfferIndex(chosen, mid_to_brand=MID_TO_BRAND, brand_aliases=ALIASES)


def ids(offers: Iterable[OfferRules]) -> list[int]:
    return [offer.offer_id for offer in offers]


def test_location_offer_and_brand_wide_offer_at_their_mid() -> None:
    assert ids(build().candidates(make_event(mid="MID-A"))) == [1, 2]


def test_other_location_of_the_brand_gets_only_brand_wide_offers() -> None:
    assert ids(build().candidates(make_event(mid="MID-B"))) == [2]


def test_only_offers_in_the_events_currency() -> None:
    assert ids(build().candidates(make_event(mid="MID-B", currency="EUR"))) == [3]
    assert ids(build().candidates(make_event(mid="MID-B", currency="GBP"))) == []


def test_other_brand() -> None:
    assert ids(build().candidates(make_event(mid="MID-Z"))) == [4]


def test_brand_hint_finds_brand_wide_offers_when_the_mid_is_unknown() -> None:
    index = build()
    no_mid = make_event(mid=None, brand_hint="plaid-entity-blue-bottle")
    assert ids(index.candidates(no_mid)) == [2]
    unknown_mid = make_event(mid="MID-NEW", brand_hint="plaid-entity-blue-bottle")
    assert ids(index.candidates(unknown_mid)) == [2]
    assert index.brand_for(no_mid) == BRAND


def test_merchant_name_is_matched_normalized() -> None:
    event = make_event(mid=None, merchant_name="  blue   BOTTLE coffee ")
    assert build().brand_for(event) == BRAND
    assert ids(build().candidates(event)) == [2]
    assert normalize_name("  Blue\tBottle  COFFEE") == "blue bottle coffee"
    assert normalize_name("Joe's  Café!") == "joes café"
    assert normalize_name("JOE'S CAFÉ") == "joes café"
    # The ASCII fast path removes exactly what the Unicode rule removes ("$" is a symbol).
    assert normalize_name("A&B $5 (Main St.)") == normalize_name("A&B $5 (Main St.)\u00a0é")[:-2]
    assert normalize_name("A&B $5 (Main St.)") == "ab $5 main st"


def test_known_mid_wins_over_the_brand_hint() -> None:
    event = make_event(mid="MID-Z", brand_hint="plaid-entity-blue-bottle")
    assert build().brand_for(event) == 20
    assert ids(build().candidates(event)) == [4]


def test_nothing_known_means_no_candidates_and_no_brand() -> None:
    event = make_event(mid="MID-NEW", brand_hint="somebody-else")
    assert build().candidates(event) == ()
    assert build().brand_for(event) is None
    assert build().candidates(make_event(mid=None)) == ()


def test_candidates_are_precomputed_not_rebuilt_per_event() -> None:
    index = build()
    assert index.candidates(make_event(mid="MID-A")) is index.candidates(make_event(mid="MID-A"))
    assert index.candidates(make_event(mid="MID-B")) is index.candidates(make_event(mid="MID-B"))


def test_offer_naming_a_mid_no_brand_owns_still_applies_there() -> None:
    stray = make_offer(offer_id=9, location_mids=frozenset({"MID-POPUP"}))
    index = build(stray, BRAND_WIDE)
    assert ids(index.candidates(make_event(mid="MID-POPUP"))) == [9]
    hinted = make_event(mid="MID-POPUP", brand_hint="plaid-entity-blue-bottle")
    assert ids(index.candidates(hinted)) == [2, 9]


def test_add_and_remove_keep_the_index_live() -> None:
    index = build(AT_MID_A)
    assert ids(index.candidates(make_event(mid="MID-B"))) == []
    index.add(BRAND_WIDE)
    assert ids(index.candidates(make_event(mid="MID-A"))) == [1, 2]
    assert ids(index.candidates(make_event(mid="MID-B"))) == [2]
    index.remove(1)
    assert ids(index.candidates(make_event(mid="MID-A"))) == [2]
    index.remove(2)
    assert ids(index.candidates(make_event(mid="MID-A"))) == []
    index.remove(12345)  # unknown: ignored
    assert len(index) == 0


def test_add_replaces_an_offer_with_the_same_id() -> None:
    index = build(AT_MID_A)
    narrowed_to_b = make_offer(offer_id=1, location_mids=frozenset({"MID-B"}))
    index.add(narrowed_to_b)
    assert ids(index.candidates(make_event(mid="MID-A"))) == []
    assert ids(index.candidates(make_event(mid="MID-B"))) == [1]
    assert index.get(1) is narrowed_to_b
    assert 1 in index and len(index) == 1


def test_new_location_picks_up_brand_wide_offers() -> None:
    index = build()
    assert ids(index.candidates(make_event(mid="MID-C"))) == []
    index.add_location("MID-C", BRAND)
    assert ids(index.candidates(make_event(mid="MID-C"))) == [2]


def test_alias_added_later() -> None:
    index = build()
    event = make_event(mid=None, brand_hint="ENTITY-20")
    assert index.candidates(event) == ()
    index.add_alias("ENTITY-20", 20)
    assert ids(index.candidates(event)) == [4]


def test_brand_with_many_locations_shares_one_lookup() -> None:
    mids = {f"M{i}": BRAND for i in range(1_000)}
    index = OfferIndex([BRAND_WIDE], mid_to_brand=mids)
    first = index.candidates(make_event(mid="M0"))
    assert all(index.candidates(make_event(mid=f"M{i}")) is first for i in range(1_000))
