"""Fixtures of the platform gate tests: a real issuer app and wallets holding its credentials."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gate_support import Issuer
from presenting import MovableClock

from ageverify import create_app
from ageverify.demo import DemoVerifier, register_demo_verifier
from ageverify.sdk import Holder


@pytest.fixture
def issuer(instance: Path, clock: MovableClock) -> Iterator[Issuer]:
    """A development issuer (keys generated ahead) with the demo verifier registered."""
    app = create_app(
        {"env": "development", "instance_path": instance, "log_level": "ERROR"}, clock=clock
    )
    state = app.extensions["ageverify"]
    demo = DemoVerifier.load_or_create(instance)
    register_demo_verifier(state.sessions, demo, now=clock())
    yield Issuer(app, clock, demo)
    state.close()


@pytest.fixture
def adult(issuer: Issuer) -> Holder:
    """A wallet with credentials of a 30-year-old."""
    return issuer.holder(30)


@pytest.fixture
def teen(issuer: Issuer) -> Holder:
    """A wallet with credentials of a 15-year-old."""
    return issuer.holder(15)
