"""Plaid Link in the browser, as the stand-in plays it (tests and the offline demo).

`/link/v2/stable/link-initialize.js` is served in place of Plaid's script: `Plaid.create`
with a link token opens a small institution picker in the page; choosing one calls
`/link/standin/complete`, which does what Link does on Plaid's side: a new Item and its
public token for onSuccess, or, for a token made in update mode (with an access token),
the Item's login repaired. CORS headers let a page on another origin make the call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import errors
from .state import StandinState

SCRIPT_PATH = "/link/v2/stable/link-initialize.js"
COMPLETE_PATH = "/link/standin/complete"
LINK_JS = Path(__file__).parent / "static" / "link-initialize.js"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}
INSTITUTIONS = {
    "ins_109508": "First Platypus Bank",
    "ins_109509": "First Gingham Credit Union",
    "ins_109511": "Tattersall Federal Credit Union",
}


def script() -> bytes:
    return LINK_JS.read_bytes()


def complete(state: StandinState, body: dict[str, Any]) -> dict[str, Any]:
    """Finish a Link session: (new Item's public token | repaired Item) and Link's metadata."""
    token = body.get("link_token")
    institution_id = body.get("institution_id")
    if not isinstance(token, str) or token not in state.link_configs:
        raise errors.invalid_field("link_token is unknown or expired")
    config = state.link_configs[token]
    if config["access_token"] is not None:
        item = state.item_for_token(config["access_token"], allow_error=True)
        state.repair_login(item)
        return {"public_token": None, "update_mode": True, "metadata": {"status": "success"}}
    if institution_id not in INSTITUTIONS:
        raise errors.invalid_field("institution_id is not one Link offers")
    public_token = state.create_item(
        institution_id=institution_id, products=["transactions"], webhook=config["webhook"]
    )
    return {
        "public_token": public_token,
        "update_mode": False,
        "metadata": {
            "status": "success",
            "institution": {"institution_id": institution_id, "name": INSTITUTIONS[institution_id]},
        },
    }
