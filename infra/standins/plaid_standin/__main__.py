"""Run the Plaid stand-in in the foreground: `python -m infra.standins.plaid_standin`."""

from __future__ import annotations

import argparse
import logging
import os

from .standin import PlaidStandin


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Local stand-in for the Plaid API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument(
        "--client-id", default=os.environ.get("CLO_PLAID_STANDIN_CLIENT_ID") or None
    )
    parser.add_argument("--secret", default=os.environ.get("CLO_PLAID_STANDIN_SECRET") or None)
    parser.add_argument(
        "--strict", action="store_true", help="check every response against the OpenAPI spec"
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    standin = PlaidStandin(
        host=args.host,
        port=args.port,
        client_id=args.client_id,
        secret=args.secret,
        strict=args.strict or None,
    )
    standin.start()
    print(f"Plaid stand-in listening on {standin.url}", flush=True)
    print(f"client_id={standin.client_id} secret={standin.secret}", flush=True)
    try:
        standin.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
