"""`clo keys rotate`: every secret at rest re-encrypted under the newest key."""

from __future__ import annotations

from sqlalchemy import Engine, select, update

from service.linking_tables import PlaidItem
from service.security.encryption import SecretBox

_items = PlaidItem.__table__
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
            return rewritten
        rewritten += len(rows)
        after_id = rows[-1][0]
