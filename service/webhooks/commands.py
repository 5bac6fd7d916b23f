"""`clo deliver`: send partner webhooks (the same pass `clo scheduler` runs every few seconds)."""

from __future__ import annotations

import argparse
import contextlib
import logging

from service.config import get_settings
from service.db import make_engine


def cmd_deliver(args: argparse.Namespace) -> int:
    from service.webhooks.worker import run_forever

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = get_settings()
    engine = make_engine(args.database or settings.database_url)
    with contextlib.suppress(KeyboardInterrupt):
        last = run_forever(engine, settings, once=args.once)
        if args.once and last is not None:
            print(last.detail())
    return 0


def add_commands(sub, add) -> None:
    """Register the commands on the `clo` parser (called from service/cli.py)."""
    p = add("deliver", cmd_deliver, "send partner webhooks from the outbox (loop)")
    p.add_argument("--once", action="store_true", help="one pass, then exit")
