"""Receipt files: what a file is, judged by its first bytes, never by its name or by the
Content-Type a client declares, and how big it may be."""

from __future__ import annotations

from collections.abc import AsyncIterator

from service.problems import InvalidInput, PayloadTooLarge

MAX_RECEIPT_BYTES = 5 * 1024 * 1024  # 5 MB

# Signatures of the formats a receipt may be: JPEG (SOI + a marker), PNG, PDF.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"%PDF-", "application/pdf"),
)


def receipt_content_type(body: bytes) -> str:
    """The receipt's media type by its magic bytes; anything else is refused (422)."""
    if not body:
        raise InvalidInput("the receipt is empty", field="receipt", reason="receipt_empty")
    for signature, content_type in _SIGNATURES:
        if body.startswith(signature):
            return content_type
    raise InvalidInput(
        "a receipt must be a JPEG, PNG or PDF file", field="receipt", reason="receipt_type"
    )


def too_large() -> PayloadTooLarge:
    return PayloadTooLarge(
        f"a receipt may be at most {MAX_RECEIPT_BYTES // (1024 * 1024)} MB",
        field="receipt",
        reason="receipt_too_large",
    )


def check_receipt(body: bytes) -> str:
    """Size first (cheap), then content: the receipt's media type."""
    if len(body) > MAX_RECEIPT_BYTES:
        raise too_large()
    return receipt_content_type(body)


async def read_limited(chunks: AsyncIterator[bytes]) -> bytes:
    """A streamed body, refused as soon as it passes the receipt limit (never held whole)."""
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_RECEIPT_BYTES:
            raise too_large()
    return bytes(body)
