"""Settings from the environment (prefix CLO_)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Well-known secrets for an explicit CLO_ENVIRONMENT=development only: refused in every other
# environment, and never the default (an unset environment is production).
DEV_FEED_KEYS = {"dev": "dev-feed-secret-change-me"}
DEV_ENCRYPTION_KEY = "ZGV2LW9ubHktZW5jcnlwdGlvbi1rZXktY2hhbmdlISE="
# Signs CSRF tokens and short-lived web cookies in development only (refused in production).
DEV_WEB_SECRET_KEY = "dev-web-secret-change-me-0123456789abcdef"  # noqa: S105
MIN_FEED_KEY_CHARS = 32


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLO_", extra="ignore")

    # development: the well-known secrets above are filled in when none are given; demo: the
    # offline demo with secrets `clo secrets generate` made; test; production (the default).
    environment: Literal["development", "test", "demo", "production"] = "production"
    # Logs: JSON lines on stderr at this level and above (DEBUG, INFO, WARNING, ERROR).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # The production API server (infra/deploy/start.sh api): address and worker processes.
    api_bind: str = "0.0.0.0:8000"
    api_workers: int = Field(default=4, ge=1, le=64)
    database_url: str = "sqlite:///./clo.db"
    # Network feed HMAC keys by key id; rotate by adding a new id before removing the old one.
    feed_signing_keys: dict[str, str] = Field(default_factory=dict)
    feed_replay_window_seconds: int = 300
    feed_batch_max_events: int = 1000
    # Events per transaction for feed files: larger batches share index pages and commits
    # (200,000 events: 6,300 events/s at 5,000, 7,700 at 20,000, 8,100 at 50,000).
    ingest_batch_events: int = 20_000
    auth_expiry_days: int = 7
    clearing_link_tolerance_bps: int = 2_500
    clearing_link_window_days: int = 10
    max_request_body_bytes: int = 2_000_000
    max_feed_file_bytes: int = 50 * 1024**3
    # Settlement: runs below this total (minor units) are approved without finance.
    settlement_auto_approve_below_amount: int = 100_000
    payout_minimum_amount: int = 1_000
    # The scheduler (`clo scheduler`): cron expressions, UTC.
    maturation_cron: str = "0 2 * * *"
    settlement_cron: str = "0 3 * * mon"
    # Holdout populations counted up to the last settled midnight (attribution.population).
    holdout_population_cron: str = "30 1 * * *"
    resume_runs_cron: str = "*/15 * * * *"
    # Budgets held by feed batches whose process died before committing, given back.
    budget_holds_interval_seconds: int = 60
    # The ledger check (cached balances against postings), its result on /metrics.
    ledger_check_cron: str = "45 * * * *"
    scheduler_misfire_grace_seconds: int = 3600
    # Stripe: empty key = settlement cannot bill or pay; api_base points the SDK elsewhere.
    stripe_api_key: str = ""
    stripe_api_base: str | None = None
    stripe_webhook_secret: str = ""
    stripe_webhook_tolerance_seconds: int = 300
    # The API version the Stripe webhook endpoint is pinned to (set when the endpoint was
    # created, in the Dashboard or by API): events arrive rendered in that version, and one in
    # another version is refused. Empty: the stripe SDK's own pinned version.
    stripe_webhook_api_version: str = Field(default="", max_length=40)
    # Secrets at rest (Plaid access tokens): Fernet keys, newest first, as a JSON list in
    # CLO_ENCRYPTION_KEYS. Add a new key in front, run `clo keys rotate`, then drop the old one.
    encryption_keys: list[str] = Field(default_factory=list)
    # Plaid: the real SDK; plaid_host points it at the stand-in or at Plaid's environment.
    plaid_client_id: str = ""
    plaid_secret: str = ""
    plaid_host: str = "https://sandbox.plaid.com"
    plaid_webhook_url: str | None = None
    plaid_sync_page_size: int = 100
    plaid_sync_max_pages: int = 100
    plaid_sync_max_restarts: int = 3
    plaid_webhook_max_age_seconds: int = 300
    # Rate limits, an institution down, 5xx and network errors: retried with exponential
    # backoff within one sync, then left for the next scheduled sync (cursor kept).
    plaid_retry_attempts: int = Field(default=4, ge=1, le=10)
    plaid_retry_initial_wait_s: float = Field(default=1.0, ge=0, le=60)
    plaid_retry_max_wait_s: float = Field(default=16.0, ge=0, le=300)
    # Unresolved merchants mapped to a brand re-match the events of the last this many days.
    rematch_window_days: int = 30
    # Web front ends (service/web): cookie sessions, CSRF, sign-in limits, provider scripts.
    # Empty in development means the development key; outside it a real key is required
    # (`clo secrets generate`), except in tests, which get a fresh random one.
    web_secret_key: str = ""
    web_session_days: int = 30
    # None: Secure cookies everywhere except local development and tests over plain http.
    web_cookie_secure: bool | None = None
    # Where the browser reaches this app: WebAuthn's origin and relying party id come from it.
    web_origin: str = "http://localhost:8000"
    # `limits` storage: memory:// per process; redis://... shares counts between workers.
    web_rate_limit_storage: str = "memory://"
    web_sign_in_limit_per_account: str = "5/minute;20/hour"
    web_sign_in_limit_per_address: str = "30/minute;200/hour"
    # The card form and bank link scripts: the providers' addresses in production; the
    # stand-ins' in tests and the demo.
    stripe_publishable_key: str = ""
    stripe_js_url: str = "https://js.stripe.com/v3/"
    plaid_link_js_url: str = "https://cdn.plaid.com/link/v2/stable/link-initialize.js"

    # Partner webhooks (`clo deliver`, or every few seconds under `clo scheduler`). Plain
    # http to loopback and private addresses is for a local receiver in development and
    # tests only; everywhere else an endpoint is https on a public address.
    webhook_allow_local_http: bool = False
    webhook_timeout_seconds: float = 5.0
    webhook_retry_base_seconds: float = 30.0
    webhook_retry_max_delay_seconds: float = 6 * 3600.0
    webhook_retry_days: int = 3
    deliver_interval_seconds: int = 5
    # Member notifications (service/notifications): the notifier reads the outbox every
    # poll interval. Email goes over SMTP (no host: email deliveries wait until one is set);
    # Web Push is signed with the VAPID key pair (`clo secrets generate` makes one).
    notifier_poll_seconds: float = 0.5
    notifier_chunk_events: int = 1000
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0
    # Connections a batch of email is sent over at once.
    smtp_connections: int = 4
    notification_email_from: str = "Cashback <notifications@clo.example>"
    # VAPID: the private key as base64url (raw 32 bytes or DER), the public key as base64url
    # of the uncompressed point (what the browser's PushManager takes).
    vapid_private_key: str = ""
    vapid_public_key: str = ""
    vapid_subject: str = "mailto:notifications@clo.example"

    # Failed authentications allowed per key id and per client address (`limits` notation);
    # past them the answer is 429 with Retry-After. memory:// is per process; a shared store
    # (redis://...) makes the limit hold across API workers.
    auth_failures_per_key: str = "10/minute"
    auth_failures_per_address: str = "60/minute"
    rate_limit_storage_uri: str = "memory://"
    # Missing-cashback claims a member may file (`limits` notation), in the same storage.
    claim_limit_per_member: str = "5/hour;20/day"
    # Plaid webhook verification keys: unknown key ids fetched at most this often.
    plaid_key_fetches_per_minute: int = 10

    @property
    def cookies_secure(self) -> bool:
        if self.web_cookie_secure is not None:
            return self.web_cookie_secure
        return self.environment == "production"

    @model_validator(mode="after")
    def refuse_default_secrets(self) -> Settings:
        if self.environment == "development":
            self.feed_signing_keys = self.feed_signing_keys or dict(DEV_FEED_KEYS)
            self.encryption_keys = self.encryption_keys or [DEV_ENCRYPTION_KEY]
            self.web_secret_key = self.web_secret_key or DEV_WEB_SECRET_KEY
            return self
        if self.environment == "test" and not self.web_secret_key:
            self.web_secret_key = secrets.token_urlsafe(32)
        # Empty is allowed here (a CLI command needs no web key); the web front ends refuse
        # to start without one.
        if self.web_secret_key and (
            self.web_secret_key == DEV_WEB_SECRET_KEY or len(self.web_secret_key) < 32
        ):
            raise ValueError(
                "web_secret_key is the development default or shorter than 32 characters "
                "(allowed only in CLO_ENVIRONMENT=development)"
            )
        for key_id, secret in self.feed_signing_keys.items():
            if DEV_FEED_KEYS.get(key_id) == secret or len(secret) < MIN_FEED_KEY_CHARS:
                raise ValueError(
                    f"feed signing key {key_id!r} is a development default or shorter than "
                    f"{MIN_FEED_KEY_CHARS} characters (allowed only in CLO_ENVIRONMENT=development)"
                )
        if self.webhook_allow_local_http and self.environment not in ("test", "demo"):
            raise ValueError(
                "webhook_allow_local_http is allowed only in development, test and demo"
            )
        if DEV_ENCRYPTION_KEY in self.encryption_keys:
            raise ValueError(
                "the development encryption key is allowed only in CLO_ENVIRONMENT=development"
            )
        if self.environment == "production" and (
            self.database_url.startswith("sqlite") and "memory" in self.database_url
        ):
            raise ValueError("an in-memory database is not allowed in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
