"""Finding the offers that could apply to a card event, in time independent of the offer count.

Every lookup is a dict access into tuples built ahead of time: per MID, the offers of that
location plus the brand-wide offers of its brand; per brand, its brand-wide offers. Many
MIDs of one brand share the same per-currency mapping object, so a brand with thousands of
locations costs one entry per MID, not a copy of its offers per MID.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from matching.events import CardEvent
from matching.offers import OfferRules

_Offers = tuple[OfferRules, ...]
_ByCurrency = Mapping[str, _Offers]
_NONE: _ByCurrency = MappingProxyType({})


# ASCII punctuation by the same Unicode rule as below, for the common fast path.
_ASCII_PUNCTUATION = str.maketrans(
    "", "", "".join(ch for ch in map(chr, range(128)) if unicodedata.category(ch)[0] == "P")
)


def normalize_name(text: str) -> str:
    """The form brand aliases are compared in: NFKC, case-folded, punctuation removed,
    whitespace collapsed ("Joe's  Café!" -> "joes café").

    Aliases added through the API and merchant names on events both go through this one
    function, so "JOE'S CAFÉ" on a card event finds the alias "Joe's Café".
    """
    if text.isascii():
        return " ".join(text.translate(_ASCII_PUNCTUATION).lower().split())
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in folded if unicodedata.category(ch)[0] != "P")
    return " ".join(kept.split())


def _by_currency(*groups: Iterable[OfferRules]) -> _ByCurrency:
    grouped: dict[str, list[OfferRules]] = {}
    for group in groups:
        for offer in group:
            grouped.setdefault(offer.currency, []).append(offer)
    if not grouped:
        return _NONE
    # Sorted by id so candidates, and so decisions, come out in the same order every run.
    return {
        currency: tuple(sorted(offers, key=lambda o: o.offer_id))
        for currency, offers in grouped.items()
    }


class OfferIndex:
    """Matchable offers keyed by MID and by brand; kept live with `add` and `remove`.

    `mid_to_brand` says which brand owns each MID. `brand_aliases` maps a brand hint (such
    as Plaid's merchant_entity_id) or a merchant name to a brand, for events without a
    known MID. Which offers are matchable (scheduled or live) is the caller's choice; time
    windows are checked by `match`.
    """

    __slots__ = (
        "_aliases", "_by_brand", "_by_mid", "_located", "_mid_brand", "_mids_of_brand", "_offers",
        "_stray", "_wide",
    )  # fmt: skip

    def __init__(
        self,
        offers: Iterable[OfferRules] = (),
        mid_to_brand: Mapping[str, int] | None = None,
        brand_aliases: Mapping[str, int] | None = None,
    ) -> None:
        self._mid_brand: dict[str, int] = dict(mid_to_brand or {})
        self._mids_of_brand: dict[int, set[str]] = {}
        for mid, brand in self._mid_brand.items():
            self._mids_of_brand.setdefault(brand, set()).add(mid)
        self._aliases: dict[str, int] = {}
        for alias, brand in (brand_aliases or {}).items():
            self.add_alias(alias, brand)
        self._offers: dict[int, OfferRules] = {}
        self._located: dict[str, dict[int, OfferRules]] = {}
        self._wide: dict[int, dict[int, OfferRules]] = {}
        for offer in offers:
            self._file(offer)
        self._by_brand: dict[int, _ByCurrency] = {
            brand: _by_currency(offers.values()) for brand, offers in self._wide.items()
        }
        # Every owned MID has an entry (possibly empty), so one lookup settles an owned MID.
        self._by_mid: dict[str, _ByCurrency] = {}
        self._stray: dict[str, _ByCurrency] = {}
        for mid in self._mid_brand.keys() | self._located.keys():
            self._rebuild_mid(mid)

    # -- lookups (per event) ---------------------------------------------------------------
    def candidates(self, event: CardEvent) -> _Offers:
        """Offers of the event's location and brand, in the event's currency."""
        mid = event.mid
        if mid is not None:
            per_currency = self._by_mid.get(mid)
            if per_currency is not None:
                return per_currency.get(event.currency, ())
        brand = self._brand_by_alias(event)
        wide = () if brand is None else self._by_brand.get(brand, _NONE).get(event.currency, ())
        if mid is not None and mid in self._stray:
            located = self._stray[mid].get(event.currency, ())
            return tuple(sorted({*located, *wide}, key=lambda o: o.offer_id))
        return wide

    def brand_for(self, event: CardEvent) -> int | None:
        """The brand of the event: the owner of its MID, else by brand hint or name."""
        if event.mid is not None:
            brand = self._mid_brand.get(event.mid)
            if brand is not None:
                return brand
        return self._brand_by_alias(event)

    def _brand_by_alias(self, event: CardEvent) -> int | None:
        aliases = self._aliases
        if not aliases:
            return None
        for text in (event.brand_hint, event.merchant_name):
            if text is not None:
                brand = aliases.get(text)
                if brand is None:
                    brand = aliases.get(normalize_name(text))
                if brand is not None:
                    return brand
        return None

    def get(self, offer_id: int) -> OfferRules | None:
        return self._offers.get(offer_id)

    def __len__(self) -> int:
        return len(self._offers)

    def __contains__(self, offer_id: object) -> bool:
        return offer_id in self._offers

    # -- keeping it live -------------------------------------------------------------------
    def add(self, offer: OfferRules) -> None:
        """Add an offer, or replace the one with the same id."""
        self.remove(offer.offer_id)
        self._file(offer)
        self._refresh(offer)

    def remove(self, offer_id: int) -> None:
        """Take an offer out; an unknown id is ignored."""
        offer = self._offers.pop(offer_id, None)
        if offer is None:
            return
        if offer.location_mids is None:
            del self._wide[offer.brand_id][offer_id]
            if not self._wide[offer.brand_id]:
                del self._wide[offer.brand_id]
        else:
            for mid in offer.location_mids:
                del self._located[mid][offer_id]
        self._refresh(offer)

    def add_location(self, mid: str, brand_id: int) -> None:
        """Record (or move) a MID's owning brand."""
        previous = self._mid_brand.get(mid)
        if previous is not None:
            self._mids_of_brand[previous].discard(mid)
        self._mid_brand[mid] = brand_id
        self._mids_of_brand.setdefault(brand_id, set()).add(mid)
        self._rebuild_mid(mid)

    def add_alias(self, alias: str, brand_id: int) -> None:
        """Map a brand hint or merchant name to a brand (matched as given and normalized)."""
        self._aliases[alias] = brand_id
        self._aliases.setdefault(normalize_name(alias), brand_id)

    def _file(self, offer: OfferRules) -> None:
        self._offers[offer.offer_id] = offer
        if offer.location_mids is None:
            self._wide.setdefault(offer.brand_id, {})[offer.offer_id] = offer
        else:
            for mid in offer.location_mids:
                self._located.setdefault(mid, {})[offer.offer_id] = offer

    def _refresh(self, offer: OfferRules) -> None:
        """Rebuild the lookups an added or removed offer appears in."""
        if offer.location_mids is None:
            brand = offer.brand_id
            if brand in self._wide:
                self._by_brand[brand] = _by_currency(self._wide[brand].values())
            else:
                self._by_brand.pop(brand, None)
            for mid in self._mids_of_brand.get(brand, ()):
                self._rebuild_mid(mid)
        else:
            for mid in offer.location_mids:
                self._rebuild_mid(mid)

    def _rebuild_mid(self, mid: str) -> None:
        brand = self._mid_brand.get(mid)
        located = self._located.get(mid)
        if located is not None and not located:
            del self._located[mid]
            located = None
        if brand is None:
            # An offer names a MID that no brand owns (yet): its own offers still apply.
            self._by_mid.pop(mid, None)
            if located:
                self._stray[mid] = _by_currency(located.values())
            else:
                self._stray.pop(mid, None)
            return
        self._stray.pop(mid, None)
        wide = self._by_brand.get(brand, _NONE)
        if located:
            self._by_mid[mid] = _by_currency(
                located.values(), (o for offers in wide.values() for o in offers)
            )
        else:
            # Shared, not copied: every MID of the brand points at the brand's own mapping.
            self._by_mid[mid] = wide
