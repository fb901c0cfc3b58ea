"""A person in the browser tests: a browser context of their own, and what they do.

The context holds their wallet (IndexedDB at the issuer's origin) and their
sessions at the chat sites. Playwright is imported by the fixtures that make
people; without it they skip (or fail under ``CI=true``) before any of this runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from examples.run_demo import DemoStack

try:
    from playwright.sync_api import expect
except ImportError:  # the fixtures report it
    expect = None  # type: ignore[assignment]

TIMEOUT_MS = 10_000


@dataclass
class Person:
    """Someone with a browser: their context (wallet and cookies) and one open page."""

    context: Any
    page: Any
    stack: DemoStack

    def verify_age(self, age: int) -> None:
        """Have the demo verifier attest ``age`` and let the wallet get credentials."""
        page = self.page
        page.goto(self.stack.verifier + "/")
        page.fill("#age", str(age))
        page.click("#attest")
        page.wait_for_url(re.compile(re.escape(self.stack.issuer + "/wallet/")))
        page.click("#get-credentials")
        expect(page.locator("#home")).to_be_visible()
        expect(page.locator("#credentials")).to_have_attribute("data-count", "10")

    def ask(self, site: str, room: str) -> None:
        """Follow the lobby link of ``room`` at ``site`` (the gate may send us to the wallet)."""
        self.page.goto(site + "/")
        self.page.click(f"#enter-{room}")

    def consent(self) -> Any:
        """Wait for the wallet's consent screen; return the ``#consent`` locator."""
        consent = self.page.locator("#consent")
        expect(consent).to_be_visible()
        return consent

    def enter(self, site: str, room: str) -> None:
        """Enter ``room`` at ``site``: lobby link, the wallet's consent, share, the room."""
        self.ask(site, room)
        self.consent()
        self.page.click("#share")
        self.page.wait_for_url(f"{site}/rooms/{room}")
        expect(self.page.locator("#room")).to_have_attribute("data-room", room)
