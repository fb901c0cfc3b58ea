"""A real redis-server for the tests, started in a temporary folder on a unix socket.

Debian's ``redis-server`` package provides it (``.ci/run`` installs it). Without
it the tests that need Redis skip, except under ``CI=true``, where they fail:
CI must never pass by not testing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest


class RedisServer:
    """One redis-server process, persistence off, reachable at :attr:`url`."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            message = "redis-server is not installed (Debian package redis-server)"
            if os.environ.get("CI") == "true":
                pytest.fail(message)
            pytest.skip(message)
        folder.mkdir(parents=True, exist_ok=True)
        self.socket = folder / "redis.sock"
        self.url = f"unix://{self.socket}"
        self._process = subprocess.Popen(  # noqa: S603 - a fixed binary and arguments
            [
                binary,
                "--port", "0",
                "--unixsocket", str(self.socket),
                "--unixsocketperm", "700",
                "--save", "",
                "--appendonly", "no",
                "--dir", str(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail("redis-server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop the server (at once, as a crash would) and wait for it to exit."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait(timeout=10)
