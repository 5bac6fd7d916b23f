"""The README's environment table, generated from `Settings` (`clo settings table`).

Every setting needs a meaning here: a test fails when one is missing or when the README's
table differs from what this prints, so the documentation cannot drift from the code.
"""

from __future__ import annotations

import json
from typing import Any

from service.config import Settings

MEANINGS: dict[str, str] = {
    "environment": "`development` (well-known secrets filled in), `demo`, `test` or `production`",
    "log_level": "log lines (JSON on stderr) at this level and above",
    "api_bind": "address the production API server listens on (`infra/deploy/start.sh api`)",
    "api_workers": "API worker processes of the production server",
    "database_url": "SQLAlchemy URL: `postgresql://...` in production, SQLite embedded",
    "feed_signing_keys": "network feed HMAC keys by key id, JSON (rotate: add a key id, then "
    "drop the old)",
    "feed_replay_window_seconds": "a feed webhook's timestamp may be this far from now",
    "feed_batch_max_events": "events per feed webhook request",
    "ingest_batch_events": "events per transaction when ingesting feed files",
    "auth_expiry_days": "an auth with no clearing after this long is voided",
    "clearing_link_tolerance_bps": "a clearing links to an auth within this amount difference "
    "(tips)",
    "clearing_link_window_days": "... and within this many days",
    "max_request_body_bytes": "largest request body (feed webhook: 4 MB)",
    "max_feed_file_bytes": "largest feed file `clo ingest` reads",
    "settlement_auto_approve_below_amount": "settlement runs below this total (minor units) "
    "need no finance approval",
    "payout_minimum_amount": "members are paid out from this available balance (minor units)",
    "maturation_cron": "scheduler: maturing rewards (cron, UTC)",
    "settlement_cron": "scheduler: settling the previous ISO week (cron, UTC)",
    "holdout_population_cron": (
        "scheduler: counting each holdout offer's population up to the last settled midnight, "
        "so an attribution report hashes only the members linked since (cron, UTC)"
    ),
    "resume_runs_cron": "scheduler: resuming approved or interrupted runs (cron, UTC)",
    "ledger_check_cron": "scheduler: the ledger check, its result on /metrics (cron, UTC)",
    "scheduler_misfire_grace_seconds": "a job missed by less than this still runs",
    "stripe_api_key": "Stripe secret key; empty: settlement cannot bill or pay",
    "stripe_api_base": "another address for the Stripe API (the stand-in)",
    "stripe_webhook_secret": "`whsec_...` for verifying Stripe webhooks",
    "stripe_webhook_tolerance_seconds": "a Stripe webhook's timestamp may be this old",
    "encryption_keys": "Fernet keys for secrets at rest, newest first, JSON list",
    "plaid_client_id": "Plaid client id",
    "plaid_secret": "Plaid secret",
    "plaid_host": "Plaid environment address (or the stand-in's)",
    "plaid_webhook_url": "where Plaid sends webhooks (`/v1/webhooks/plaid` of this service)",
    "plaid_sync_page_size": "transactions per `/transactions/sync` page",
    "plaid_sync_max_pages": "pages per Item per sync",
    "plaid_sync_max_restarts": "restarts of a sync after a mutation during pagination",
    "plaid_webhook_max_age_seconds": "a Plaid webhook's `iat` may be this old",
    "rematch_window_days": "a merchant mapped to a brand re-matches this many days of events",
    "web_secret_key": "signs CSRF tokens and web cookies (32+ characters; `clo secrets generate`)",
    "web_session_days": "web sign-in lasts this long",
    "web_cookie_secure": "Secure cookies; empty: on in production only",
    "web_origin": "where browsers reach the app (WebAuthn origin and relying party)",
    "web_rate_limit_storage": "sign-in limit counters: `memory://` per process, `redis://...` "
    "shared",
    "web_sign_in_limit_per_account": "sign-in attempts per account",
    "web_sign_in_limit_per_address": "sign-in attempts per client address",
    "stripe_publishable_key": "Stripe publishable key for the card form",
    "stripe_js_url": "Stripe.js address",
    "plaid_link_js_url": "Plaid Link script address",
    "auth_failures_per_key": "failed authentications per key id before 429",
    "auth_failures_per_address": "failed authentications per client address before 429",
    "rate_limit_storage_uri": "failed-authentication counters: `memory://` or `redis://...` "
    "(shared by workers)",
    "plaid_key_fetches_per_minute": "fetches of unknown Plaid webhook key ids",
    "stripe_webhook_api_version": "the API version the Stripe webhook endpoint is pinned to; "
    "events in another version are refused (empty: the SDK's)",
    "plaid_retry_attempts": "tries of a Plaid call on rate limits, outages, 5xx and network "
    "errors before the sync is left for the next run (cursor kept)",
    "plaid_retry_initial_wait_s": "first wait between those tries (doubling)",
    "plaid_retry_max_wait_s": "longest wait between those tries",
    "claim_limit_per_member": "missing-cashback claims a member may file (`limits` notation)",
    "webhook_allow_local_http": "partner webhook endpoints may be http on loopback or private "
    "addresses (development, test and demo only)",
    "webhook_timeout_seconds": "a partner webhook delivery's connect and answer timeout",
    "webhook_retry_base_seconds": "first retry delay of a failed delivery (exponential, jitter)",
    "webhook_retry_max_delay_seconds": "longest delay between retries of a delivery",
    "webhook_retry_days": "an endpoint failing this long is disabled (with its reason)",
    "deliver_interval_seconds": "scheduler: partner webhook fan-out and sending (interval)",
    "budget_holds_interval_seconds": (
        "scheduler: giving back budgets held by feed batches that died (interval)"
    ),
    "notifier_poll_seconds": "the member notifier reads the outbox this often",
    "notifier_chunk_events": "outbox events the notifier reads per transaction",
    "smtp_host": "SMTP server for member email; empty: email deliveries wait",
    "smtp_port": "SMTP port",
    "smtp_username": "SMTP user (empty: no login)",
    "smtp_password": "SMTP password",
    "smtp_starttls": "STARTTLS before login",
    "smtp_timeout_seconds": "SMTP connect and command timeout",
    "smtp_connections": "SMTP connections a batch of email is sent over at once",
    "notification_email_from": "From address of member email",
    "vapid_private_key": "Web Push VAPID private key, base64url (`clo secrets generate`)",
    "vapid_public_key": "Web Push VAPID public key, base64url uncompressed point",
    "vapid_subject": "Web Push VAPID contact (`mailto:` or https)",
}


def _shown(value: Any) -> str:
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, dict | list):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def settings_table() -> str:
    """A Markdown table: variable, default, meaning; one row per setting, in code order."""
    prefix = str(Settings.model_config.get("env_prefix", ""))
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        if name not in MEANINGS:
            raise KeyError(f"setting {name!r} has no meaning in service/settings_table.py")
        default = field.get_default(call_default_factory=True)
        lines.append(f"| `{(prefix + name).upper()}` | {_shown(default)} | {MEANINGS[name]} |")
    return "\n".join(lines)
