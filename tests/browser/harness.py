"""The browser-test harness: the real app under uvicorn on an ephemeral port (SQLite or
PostgreSQL), the Stripe and Plaid stand-ins, and Debian's Chromium driven by Playwright.

Chromium is never downloaded: `/usr/bin/chromium` comes from Debian's `chromium` package
(`.ci/run` installs it where it is missing). Pages are reached at http://localhost:<port>
because WebAuthn refuses IP addresses as relying party ids.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect
from sqlalchemy import Engine

from infra.standins.plaid_standin import PlaidStandin
from infra.standins.stripe_standin import StripeStandin
from service.app import create_app
from service.config import Settings
from tests.service.api_client import FEED_KEYS

CHROMIUM = os.environ.get("CLO_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE: ViewportSize = {"width": 390, "height": 844}
SCREENSHOTS = Path(__file__).parent / "screenshots"
AXE = "/static/vendor/axe.min.js"
# axe-core impacts that fail a page (minor and moderate ones are reported, not failed).
FAILING_IMPACTS = ("serious", "critical")


@dataclass
class LiveApp:
    url: str
    db_url: str
    engine: Engine
    settings: Settings
    stripe: StripeStandin
    plaid: PlaidStandin
    label: str
    extras: dict[str, Any] = field(default_factory=dict)


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def live_app(engine: Engine, db_url: str, label: str, **settings_kw: Any) -> Iterator[LiveApp]:
    """The app and both stand-ins, served until the block ends."""
    sock = _free_socket()
    port = sock.getsockname()[1]
    url = f"http://localhost:{port}"
    with StripeStandin() as stripe_standin, PlaidStandin(strict=True) as plaid_standin:
        settings = Settings(
            environment="test",
            database_url=db_url,
            feed_signing_keys=FEED_KEYS,
            web_origin=url,
            stripe_api_key=stripe_standin.api_key,
            stripe_api_base=stripe_standin.url,
            stripe_publishable_key=getattr(stripe_standin, "publishable_key", ""),
            stripe_js_url=f"{stripe_standin.url}/v3/",
            plaid_client_id=plaid_standin.client_id,
            plaid_secret=plaid_standin.secret,
            plaid_host=plaid_standin.url,
            plaid_link_js_url=f"{plaid_standin.url}/link/v2/stable/link-initialize.js",
            payout_minimum_amount=500,
            encryption_keys=[Fernet.generate_key().decode()],
            **settings_kw,
        )
        app = create_app(engine=engine, settings=settings)
        server = uvicorn.Server(
            uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        )
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the app did not start")
            time.sleep(0.02)
        try:
            yield LiveApp(url, db_url, engine, settings, stripe_standin, plaid_standin, label)
        finally:
            server.should_exit = True
            thread.join(timeout=10)
            sock.close()


def launch_chromium(playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def phone_context(browser: Browser, **kw: Any) -> BrowserContext:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, **kw)
    context.set_default_timeout(10_000)
    expect.set_options(timeout=10_000)
    return context


class Shots:
    """Saves numbered phone screenshots of a journey: screenshots/<db>/<journey>/NN-step.png."""

    def __init__(self, label: str, journey: str) -> None:
        self.folder = SCREENSHOTS / label / journey
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.count = 0

    def __call__(self, page: Page, step: str, *, show: Locator | None = None) -> Path:
        """What the member sees on the phone's screen (390 x 844, not the whole page): the
        part the journey is about, scrolled into view when `show` names it."""
        self.count += 1
        if show is not None:
            show.first.scroll_into_view_if_needed()
        name = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
        path = self.folder / f"{self.count:02d}-{name}.png"
        page.screenshot(path=str(path))
        return path


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core (vendored, served as a static file so the page's CSP allows it)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    return page.evaluate(
        """async () => {
            const result = await window.axe.run(document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" ")),
            }));
        }"""
    )


def assert_accessible(page: Page) -> None:
    failing = [v for v in axe_violations(page) if v["impact"] in FAILING_IMPACTS]
    assert failing == [], f"axe-core on {page.url}: {failing}"
