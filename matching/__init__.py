"""Pure matching domain: canonical card events, offer rules, the offer index, match().

No database, no HTTP and no clock reads: every time comes in as an argument.
"""

from matching.events import CardEvent, Channel, EventKind, EventRejected, Source, parse_event
from matching.index import OfferIndex, normalize_name
from matching.linking import OpenAuth, link_clearing_to_auth
from matching.match import Decision, MatchContext, MatchResult, MemberOfferState, Reason, match
from matching.money import (
    CURRENCY_EXPONENTS,
    apply_bps,
    currency_exponent,
    decimal_to_minor,
    prorate,
    round_half_even,
)
from matching.offers import (
    Audience,
    CommissionBase,
    DayPart,
    OfferKind,
    OfferRules,
    RewardType,
    commission_for,
    in_holdout,
    reward_for_amount,
)

__all__ = [
    "CURRENCY_EXPONENTS",
    "Audience",
    "CardEvent",
    "Channel",
    "CommissionBase",
    "DayPart",
    "Decision",
    "EventKind",
    "EventRejected",
    "MatchContext",
    "MatchResult",
    "MemberOfferState",
    "OfferIndex",
    "OfferKind",
    "OfferRules",
    "OpenAuth",
    "Reason",
    "RewardType",
    "Source",
    "apply_bps",
    "commission_for",
    "currency_exponent",
    "decimal_to_minor",
    "in_holdout",
    "link_clearing_to_auth",
    "match",
    "normalize_name",
    "parse_event",
    "prorate",
    "reward_for_amount",
    "round_half_even",
]
