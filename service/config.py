"""Settings from the environment (prefix CLO_)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_FEED_KEYS = {"dev": "dev-feed-secret-change-me"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLO_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite:///./clo.db"
    # Network feed HMAC keys by key id; rotate by adding a new id before removing the old one.
    feed_signing_keys: dict[str, str] = Field(default_factory=lambda: dict(DEV_FEED_KEYS))
    feed_replay_window_seconds: int = 300
    feed_batch_max_events: int = 1000
    ingest_batch_events: int = 5000
    auth_expiry_days: int = 7
    clearing_link_tolerance_bps: int = 2_500
    clearing_link_window_days: int = 10
    max_request_body_bytes: int = 2_000_000
    max_feed_file_bytes: int = 50 * 1024**3

    @model_validator(mode="after")
    def refuse_default_secrets(self) -> Settings:
        if self.environment == "production":
            for key_id, secret in self.feed_signing_keys.items():
                if DEV_FEED_KEYS.get(key_id) == secret or len(secret) < 32:
                    raise ValueError(
                        f"feed signing key {key_id!r} is a default or shorter than 32 characters"
                    )
            if self.database_url.startswith("sqlite") and "memory" in self.database_url:
                raise ValueError("an in-memory database is not allowed in production")
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
