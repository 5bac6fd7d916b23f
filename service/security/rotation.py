"""`clo keys rotate`: every secret at rest re-encrypted under the newest key."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from service.linking_tables import PlaidItem
from service.security.encryption import SecretBox
from service.webhooks.tables import WebhookEndpoint

_items = PlaidItem.__table__
_endpoints = WebhookEndpoint.__table__
BATCH_ROWS = 500


def rotate_secrets(engine: Engine, box: SecretBox) -> int:
    """Re-encrypt every stored secret under the newest key; returns the rows rewritten.

    Batches of rows, each its own transaction: an interrupted rotation can simply run again
    (a row already under the newest key is rotated again, harmlessly). Raises InvalidToken,
    rewriting nothing of that batch, when a row was encrypted under a key no longer configured.
    """
    rewritten = 0
    after_id = 0
    while True:
        with engine.begin() as conn:
            rows = conn.execute(
                select(_items.c.id, _items.c.access_token_encrypted)
                .where(_items.c.id > after_id)
                .order_by(_items.c.id)
                .limit(BATCH_ROWS)
            ).all()
            for row_id, token in rows:
                conn.execute(
                    update(_items)
                    .where(_items.c.id == row_id)
                    .values(access_token_encrypted=box.rotate(token))
                )
        if not rows:
            return rewritten + _rotate_webhook_secrets(engine, box)
        rewritten += len(rows)
        after_id = rows[-1][0]


def _rotate_webhook_secrets(engine: Engine, box: SecretBox) -> int:
    """Webhook signing secrets (the current one and a rotated one still signing); a few rows
    per partner, so one transaction."""
    with engine.begin() as conn:
        rows = conn.execute(
            select(
                _endpoints.c.id,
                _endpoints.c.secret_encrypted,
                _endpoints.c.previous_secret_encrypted,
            )
        ).all()
        for row_id, secret, previous in rows:
            conn.execute(
                update(_endpoints)
                .where(_endpoints.c.id == row_id)
                .values(
                    secret_encrypted=box.rotate(secret),
                    previous_secret_encrypted=box.rotate(previous) if previous else None,
                )
            )
    return len(rows)
