"""Browser tests: the demo stack of ``examples/run_demo.py`` driven by headless Chromium.

The stack (issuer + wallet, demo verifier, chat A, chat B) runs once per
session on free ports, each service in its own process as ``make demo``
starts them; the issuer also writes gunicorn's own access log so tests can
read everything it records. Chromium is Debian's (``/usr/bin/chromium``),
driven by Playwright; no browser is ever downloaded. Without Chromium or
Playwright the tests skip, and fail under ``CI=true``.

Each person is a browser context of their own: their wallet (the issuer
origin's IndexedDB) and their sessions at the chat sites.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from people import TIMEOUT_MS, Person

from examples.run_demo import DemoStack, Ports, start_stack

# Debian's chromium; CHROMIUM_PATH names another build of the same browser.
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """Playwright's synchronous API, started once."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    """Headless Debian Chromium."""
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[DemoStack]:
    """The demo running on free ports, with gunicorn's access log on for the issuer."""
    running = start_stack(tmp_path_factory.mktemp("demo"), Ports.free(), issuer_access_log=True)
    yield running
    running.stop()


@pytest.fixture
def person(browser: Any, stack: DemoStack) -> Iterator[Callable[..., Person]]:
    """Make people: ``person(viewport=...)`` opens a fresh context (empty wallet, no cookies)."""
    contexts: list[Any] = []

    def make(**options: Any) -> Person:
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return Person(context, context.new_page(), stack)

    yield make
    for context in contexts:
        context.close()
