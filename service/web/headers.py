"""Security headers for the web front ends: a Content-Security-Policy with no inline script
(and no inline style), framing refused, no referrer leaks, no sniffing."""

from __future__ import annotations

from urllib.parse import urlsplit

from service.config import Settings


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _origins(*urls: str | None) -> set[str]:
    return {origin for origin in map(_origin, urls) if origin is not None}


def content_security_policy(settings: Settings) -> str:
    """Scripts only from this origin and the card and bank providers' script addresses;
    the card form and bank link talk to the providers' APIs directly."""
    scripts = _origins(settings.stripe_js_url, settings.plaid_link_js_url)
    apis = {_origin(settings.stripe_api_base) or "https://api.stripe.com"}
    apis |= _origins(settings.plaid_host)
    # The real card form and bank link draw their inputs in frames from their script origins.
    frames = set(scripts)
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(sorted(scripts)),
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self' " + " ".join(sorted(apis | scripts)),
            "frame-src " + (" ".join(sorted(frames)) or "'none'"),
            "worker-src 'self'",
            "manifest-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": content_security_policy(settings),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }
    if settings.cookies_secure:
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers
