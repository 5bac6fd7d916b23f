"""CSRF protection for every form and htmx request: a signed double-submit token.

Every browser gets a random `clo_csrf` cookie (HttpOnly, SameSite=Lax); forms carry
HMAC(secret, cookie) in a hidden `csrf_token` field and htmx sends it as `X-CSRF-Token`.
Another site can make the browser send the cookie but can neither read it nor compute the
token. Sign-in replaces the cookie, so tokens from before sign-in stop working.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request, Response

from service.problems import Forbidden
from service.web.i18n import N_

COOKIE = "clo_csrf"
FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
EXPIRED = N_("This form has expired. Go back, reload the page and try again.")


def _secret(request: Request) -> bytes:
    return request.app.state.settings.web_secret_key.encode()


def token_for(request: Request) -> str:
    """The token this browser's forms must carry (creates the cookie value if needed)."""
    seed = getattr(request.state, "csrf_seed", None)
    if seed is None:
        seed = request.cookies.get(COOKIE) or secrets.token_urlsafe(24)
        request.state.csrf_seed = seed
    return hmac.new(_secret(request), f"csrf:{seed}".encode(), hashlib.sha256).hexdigest()


def renew(request: Request) -> None:
    """A new cookie value (at sign-in and sign-out): earlier tokens stop matching."""
    request.state.csrf_seed = secrets.token_urlsafe(24)
    request.state.csrf_renewed = True


def write_cookie(request: Request, response: Response) -> None:
    """Set the cookie when this request created or renewed its value."""
    seed = getattr(request.state, "csrf_seed", None)
    if seed is None:
        return
    if seed != request.cookies.get(COOKIE) or getattr(request.state, "csrf_renewed", False):
        response.set_cookie(
            COOKIE,
            seed,
            path="/",
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookies_secure,
        )


async def require_csrf(request: Request) -> None:
    """Dependency for every state-changing web route: a missing or wrong token is a 403."""
    sent = request.headers.get(HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(FIELD)
        sent = value if isinstance(value, str) else None
    cookie = request.cookies.get(COOKIE)
    if not sent or not cookie:
        raise Forbidden(EXPIRED, field=FIELD, reason="csrf_missing")
    request.state.csrf_seed = cookie
    if not hmac.compare_digest(sent, token_for(request)):
        raise Forbidden(EXPIRED, field=FIELD, reason="csrf_invalid")
