"""Pictures of the demo's main screens, for the documentation (``docs/screenshots/``).

Taken from the running demo on each run, so they show what the code does
today; each picture is taken once its screen is known to be the right one.
They go to a temporary folder, and replace the committed ones only with
``UPDATE_SCREENSHOTS=1`` (``make screenshots``): a test run changes no file
of the repository.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from people import Person, expect

from examples.run_demo import REPO, DemoStack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

DOCUMENTED = REPO / "docs" / "screenshots"
DESKTOP = {"width": 900, "height": 640}
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where this run's pictures go: docs/screenshots with UPDATE_SCREENSHOTS=1."""
    return DOCUMENTED if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


def _shoot(person: Person, folder: Path, name: str) -> Path:
    path = folder / f"{name}.png"
    person.page.screenshot(path=str(path), full_page=False)
    return path


def test_the_main_screens_are_photographed(
    person: Callable[..., Person], stack: DemoStack, screenshots: Path
) -> None:
    screenshots.mkdir(parents=True, exist_ok=True)
    taken: list[Path] = []

    adult = person(viewport=DESKTOP)
    adult.page.goto(stack.verifier + "/")
    adult.page.fill("#age", "30")
    taken.append(_shoot(adult, screenshots, "demo-verifier"))
    adult.page.click("#attest")
    expect(adult.page.locator("#get-credentials")).to_be_visible()
    taken.append(_shoot(adult, screenshots, "wallet-receiving"))
    adult.page.click("#get-credentials")
    expect(adult.page.locator("#credentials")).to_have_attribute("data-count", "10")
    taken.append(_shoot(adult, screenshots, "wallet-home"))
    adult.ask(stack.chat_a, "adult")
    adult.consent()
    taken.append(_shoot(adult, screenshots, "consent"))
    adult.page.click("#share")
    expect(adult.page.locator("#room")).to_have_attribute("data-room", "adult")
    adult.page.fill("#message", "Hello, room.")
    adult.page.click("#send")
    expect(adult.page.locator(".messages")).to_contain_text("Hello, room.")
    taken.append(_shoot(adult, screenshots, "adult-room"))

    teen = person(viewport=DESKTOP)
    teen.verify_age(15)
    teen.enter(stack.chat_a, "teen")
    taken.append(_shoot(teen, screenshots, "teen-room"))
    teen.ask(stack.chat_a, "adult")
    expect(teen.page.locator("#age-refused")).to_be_visible()
    taken.append(_shoot(teen, screenshots, "refusal"))

    phone = person(viewport=PHONE, is_mobile=True, has_touch=True)
    phone.verify_age(30)
    phone.ask(stack.chat_b, "adult")
    phone.consent()
    taken.append(_shoot(phone, screenshots, "phone-consent"))

    for path in taken:
        assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
        # Small enough to keep in the repository.
        assert path.stat().st_size < 200_000, path
