"""Email over SMTP with the standard library's smtplib: one connection per batch."""

from __future__ import annotations

import smtplib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate

from service.config import Settings


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    delivery_id: int
    to: str
    subject: str
    text: str
    unsubscribe_url: str
    # Stable per notification: a message sent again after a crash is the same message.
    message_id: str


def message_id_for(notification_id: int, sender: str) -> str:
    domain = sender.rpartition("@")[2].rstrip(">") or "clo.example"
    return f"<notification-{notification_id}@{domain}>"


def build_message(settings: Settings, mail: OutgoingEmail) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.notification_email_from
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = mail.message_id
    # One-click unsubscribe (RFC 8058): mail clients POST to the link, no sign-in.
    message["List-Unsubscribe"] = f"<{mail.unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(mail.text)
    return message


def send_emails(settings: Settings, mails: Sequence[OutgoingEmail]) -> dict[int, str | None]:
    """Send over `smtp_connections` connections at once (one SMTP conversation is a few
    round trips per message: one connection tops out near 150 messages/s here); delivery
    id -> None when accepted, else why not."""
    lanes = max(1, min(settings.smtp_connections, len(mails) // 20 + 1))
    if lanes == 1:
        return _send_on_one_connection(settings, mails)
    results: dict[int, str | None] = {}
    with ThreadPoolExecutor(lanes, thread_name_prefix="clo-smtp") as pool:
        for part in pool.map(
            lambda lane: _send_on_one_connection(settings, mails[lane::lanes]), range(lanes)
        ):
            results.update(part)
    return results


def _send_on_one_connection(
    settings: Settings, mails: Sequence[OutgoingEmail]
) -> dict[int, str | None]:
    results: dict[int, str | None] = {}
    if not mails:
        return results
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            for mail in mails:
                try:
                    smtp.send_message(build_message(settings, mail))
                    results[mail.delivery_id] = None
                except smtplib.SMTPRecipientsRefused:
                    results[mail.delivery_id] = "recipient_refused"
                except smtplib.SMTPDataError as exc:
                    results[mail.delivery_id] = f"smtp_{exc.smtp_code}"
    except (OSError, smtplib.SMTPException) as exc:
        for mail in mails:
            results.setdefault(mail.delivery_id, f"smtp_unavailable: {type(exc).__name__}")
    return results
