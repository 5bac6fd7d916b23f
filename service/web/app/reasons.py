"""Why a card event earned what it did, in plain words a member can act on.

The codes are the matching reasons and event outcomes the API returns; a member never sees
"holdout" (the members service has already replaced it with what else applied).
"""

from __future__ import annotations

from service.web.i18n import N_, Formatter

# Reason code → sentence (translated at render time through the gettext catalog).
REASONS = {
    "qualified": N_("You earned cashback on this purchase."),
    "outbid": N_("Another of your offers paid more for this purchase, so that one counted."),
    "outside_window": N_("The purchase was outside the offer's dates."),
    "daypart": N_(
        "The offer only pays at certain days and times, and this purchase was outside them."
    ),
    "not_activated": N_("You had not activated the offer before this purchase."),
    "activated_after_purchase": N_("You activated this offer after the purchase."),
    "not_new_customer": N_("This offer is for new customers only."),
    "not_existing_customer": N_("This offer is for returning customers only."),
    "not_lapsed_customer": N_(
        "This offer is for customers who have not shopped there for a while."
    ),
    "below_min_spend": N_("The purchase was below the offer's minimum spend."),
    "member_cap_reached": N_("You have already earned this offer as many times as it pays."),
    "member_amount_cap_reached": N_("You have already earned the most this offer pays."),
    "budget_exhausted": N_("The offer had run out of budget."),
    "redemptions_exhausted": N_("The offer had already been used as many times as it allows."),
    "stamp_progress": N_("This visit counted towards your stamp card."),
    "threshold_progress": N_("This purchase counted towards your spending goal."),
    "threshold_already_paid": N_("You already reached this spending goal and got its reward."),
    "tier_too_low": N_("This offer is for a higher membership tier."),
    "wrong_channel": N_("The offer is for a different way of paying (online or in store)."),
    "currency_mismatch": N_("The purchase was in a different currency from the offer."),
    "zero_reward": N_("This purchase was too small to earn any cashback."),
    "original_not_rewarded": N_("The original purchase did not earn cashback."),
    "original_not_found": N_("We could not match this to an earlier purchase."),
    "card_unlinked": N_("The card was unlinked when you paid."),
    "no_offer": N_("There is no offer at this merchant."),
    "claimed": N_("Your claim for this purchase was accepted: its cashback came with the claim."),
}
UNKNOWN = N_("No cashback for this purchase.")


def reason_text(code: str | None, outcome: str, fmt: Formatter) -> str:
    if outcome == "no_offer" and not code:
        return fmt.gettext(REASONS["no_offer"])
    return fmt.gettext(REASONS.get(code or "", UNKNOWN))
