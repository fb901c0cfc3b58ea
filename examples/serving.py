"""Serve one example app under gunicorn, in a single worker process.

The platform gate keeps its nonces and pending requests in memory
(``MemoryNonceStore``), so every request of a platform must reach the same
process: one worker, with threads for concurrent requests. A platform that
runs several processes gives its ``Verifier`` a shared nonce store instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


def serve(factory: Callable[[], Flask], *, host: str, port: int, threads: int = 4) -> None:
    """Run the app ``factory`` builds on ``host``:``port`` until SIGTERM or Ctrl-C."""
    from gunicorn.app.base import BaseApplication

    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "timeout": 30,
        "graceful_timeout": 5,
        # No access log: request lines would carry query strings and referrers.
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "warning",
        # Several examples run side by side; none of them needs gunicorn's
        # control socket, whose default path is shared per user.
        "control_socket_disable": True,
    }

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for name, value in options.items():
                # Settings this gunicorn version does not know are left out.
                if name in self.cfg.settings:
                    self.cfg.set(name, value)

        def load(self) -> Flask:
            return factory()

    Server().run()
