"""Where a webhook may go: https to a public address (no server-side request forgery).

Checked when an endpoint is registered or changed, and again before every send after the
name is resolved (a name can be pointed at an inner address after registration); the send
then connects to the address that was checked, never resolving the name a second time.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from service.problems import InvalidInput

MAX_URL_CHARS = 2048
Resolver = Callable[[str, int], list[str]]
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class AddressRefused(Exception):
    """The URL may not be called; `reason` is machine-readable."""

    def __init__(self, detail: str, reason: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the system resolver)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str
    port: int
    address: str  # the checked address the send connects to


def _refused_kind(address: IpAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{kind}"):
            return kind
    if not address.is_global:
        return "not_global"
    return None


def check_url(url: str, *, allow_local_http: bool, resolver: Resolver = resolve) -> Target:
    """The checked target of `url`, or AddressRefused saying why not."""
    if len(url) > MAX_URL_CHARS:
        raise AddressRefused(f"the URL is longer than {MAX_URL_CHARS} characters", "too_long")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise AddressRefused("the URL must start with https://", "https_required")
    if parts.scheme == "http" and not allow_local_http:
        raise AddressRefused("the URL must start with https://", "https_required")
    if parts.username or parts.password:
        raise AddressRefused("the URL may not carry credentials", "credentials_in_url")
    host = parts.hostname
    if not host:
        raise AddressRefused("the URL names no host", "no_host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise AddressRefused("the URL's port is not a number from 1 to 65535", "bad_port") from None
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolver(host, port)]
        except (OSError, UnicodeError):
            raise AddressRefused(f"the host {host} does not resolve", "unresolvable") from None
    if not addresses:
        raise AddressRefused(f"the host {host} does not resolve", "unresolvable")
    # Every address must pass: a name with one public and one inner address is refused.
    for address in addresses:
        kind = _refused_kind(address)
        if kind is not None and not allow_local_http:
            raise AddressRefused(
                f"the host resolves to a {kind.replace('_', '-')} address, which webhooks "
                "may not reach",
                f"{kind}_address",
            )
    return Target(url, parts.scheme, host, port, str(addresses[0]))


def require_allowed_url(url: str, *, allow_local_http: bool, resolver: Resolver = resolve) -> None:
    """`check_url` for API input: a refusal is a 422 naming the `url` field."""
    try:
        check_url(url, allow_local_http=allow_local_http, resolver=resolver)
    except AddressRefused as exc:
        raise InvalidInput(exc.detail, field="url", reason=exc.reason) from None
