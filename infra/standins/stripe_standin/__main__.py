"""Run the Stripe stand-in in the foreground: `python -m infra.standins.stripe_standin`."""

from __future__ import annotations

import argparse
import logging
import os

from .standin import StripeStandin


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local stand-in for the Stripe API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        help="accept only this key (repeatable); default: any sk_test_ key",
    )
    parser.add_argument(
        "--webhook", action="append", default=[], help="webhook endpoint URL (repeatable)"
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("CLO_STRIPE_STANDIN_WEBHOOK_SECRET") or None,
        help="whsec_... signing secret (default: generated)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    standin = StripeStandin(
        host=args.host,
        port=args.port,
        api_keys=args.api_keys,
        webhook_secret=args.webhook_secret,
        webhook_urls=args.webhook,
    )

    def announce(ready: StripeStandin) -> None:
        print(f"Stripe stand-in listening on {ready.url}", flush=True)
        keys = ", ".join(sorted(ready.api_keys)) if ready.api_keys else "any sk_test_... key"
        print(f"api keys: {keys}", flush=True)
        print(f"webhook secret: {ready.webhook_secret}", flush=True)
        for endpoint in ready.webhook_endpoints:
            print(f"webhook endpoint: {endpoint.url}", flush=True)

    try:
        standin.serve_forever(on_ready=announce)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
