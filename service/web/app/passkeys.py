"""Passkeys (WebAuthn, with the `webauthn` library): a second way into a member's account.

The challenge of each ceremony travels in a short-lived signed cookie (itsdangerous), so
nothing is stored until a passkey is verified. The relying party is this app's origin
(`CLO_WEB_ORIGIN`); sign-in uses discoverable credentials, so the member types nothing.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlmodel import Session, col, select
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from service.config import Settings
from service.problems import InvalidInput, Unauthorized
from service.tables import Member
from service.web.tables import MemberPasskey

CHALLENGE_COOKIE = "clo_webauthn"
CHALLENGE_SECONDS = 300
MAX_PASSKEYS = 10
RP_NAME = "CLO Cashback"


def relying_party(settings: Settings) -> tuple[str, str]:
    """(rp id, origin): the host browsers use for this app and its full origin."""
    origin = settings.web_origin.rstrip("/")
    return urlsplit(origin).hostname or "localhost", origin


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.web_secret_key, salt="clo-webauthn")


def challenge_cookie(settings: Settings, kind: str, challenge: bytes, member_id: int | None) -> str:
    return _serializer(settings).dumps(
        {"kind": kind, "challenge": bytes_to_base64url(challenge), "member": member_id}
    )


def read_challenge(settings: Settings, cookie: str | None, kind: str) -> tuple[bytes, int | None]:
    try:
        data = _serializer(settings).loads(cookie or "", max_age=CHALLENGE_SECONDS)
    except BadSignature:
        raise InvalidInput(
            "the passkey request expired; try again", field="credential", reason="expired"
        ) from None
    if not isinstance(data, dict) or data.get("kind") != kind:
        raise InvalidInput("the passkey request expired; try again", field="credential")
    return base64url_to_bytes(data["challenge"]), data.get("member")


def passkeys_of(session: Session, member_id: int) -> list[MemberPasskey]:
    query = select(MemberPasskey).where(MemberPasskey.member_id == member_id)
    return list(session.exec(query.order_by(col(MemberPasskey.id))))


def registration_options(
    session: Session, settings: Settings, member: Member, email: str
) -> tuple[dict[str, Any], str]:
    """Options for navigator.credentials.create and the cookie holding their challenge."""
    assert member.id is not None
    rp_id, _ = relying_party(settings)
    existing = passkeys_of(session, member.id)
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=RP_NAME,
        user_id=f"member-{member.id}".encode(),
        user_name=email,
        user_display_name=member.display_name or email,
        challenge=secrets.token_bytes(32),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[
            PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in existing
        ],
    )
    cookie = challenge_cookie(settings, "register", options.challenge, member.id)
    return json.loads(options_to_json(options)), cookie


def register(
    session: Session,
    settings: Settings,
    member: Member,
    credential: dict[str, Any],
    cookie: str | None,
    *,
    now: datetime,
) -> MemberPasskey:
    challenge, member_id = read_challenge(settings, cookie, "register")
    if member_id != member.id:
        raise InvalidInput("the passkey request expired; try again", field="credential")
    assert member.id is not None
    if len(passkeys_of(session, member.id)) >= MAX_PASSKEYS:
        raise InvalidInput(
            f"at most {MAX_PASSKEYS} passkeys per account", field="credential", reason="too_many"
        )
    rp_id, origin = relying_party(settings)
    try:
        verified = verify_registration_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError):
        raise InvalidInput(
            "the passkey could not be verified", field="credential", reason="invalid_passkey"
        ) from None
    transports = credential.get("response", {}).get("transports") or []
    row = MemberPasskey(
        member_id=member.id,
        credential_id=bytes_to_base64url(verified.credential_id),
        public_key=bytes_to_base64url(verified.credential_public_key),
        sign_count=verified.sign_count,
        transports=",".join(str(t) for t in transports)[:200],
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def authentication_options(settings: Settings) -> tuple[dict[str, Any], str]:
    rp_id, _ = relying_party(settings)
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=secrets.token_bytes(32),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return json.loads(options_to_json(options)), challenge_cookie(
        settings, "authenticate", options.challenge, None
    )


def authenticate(
    session: Session,
    settings: Settings,
    credential: dict[str, Any],
    cookie: str | None,
    *,
    now: datetime,
) -> MemberPasskey:
    """The passkey that signed this challenge; anything else is the same 401."""
    challenge, _ = read_challenge(settings, cookie, "authenticate")
    refused = Unauthorized(
        "this passkey is not known here", field="credential", reason="invalid_passkey"
    )
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(credential_id, str) or len(credential_id) > 1024:
        raise refused
    row = session.exec(
        select(MemberPasskey).where(MemberPasskey.credential_id == credential_id)
    ).first()
    if row is None:
        raise refused
    rp_id, origin = relying_party(settings)
    try:
        verified = verify_authentication_response(
            credential=credential,
            expected_challenge=challenge,
            expected_rp_id=rp_id,
            expected_origin=origin,
            credential_public_key=base64url_to_bytes(row.public_key),
            credential_current_sign_count=row.sign_count,
        )
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
        raise refused from None
    row.sign_count, row.last_used_at = verified.new_sign_count, now
    session.flush()
    return row
