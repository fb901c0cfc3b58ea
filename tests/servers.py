"""Issuer processes for the tests that need real ones: gunicorn on a free loopback port.

``start_issuer`` runs ``python -OO -m gunicorn -c deploy/gunicorn.conf.py``
(the image's command) with the given environment; ``wait_ready`` polls
``/readyz``; ``worker_pids`` lists the workers of a gunicorn master, for
tests that kill one; ``prepare_instance`` initialises a development instance
(database, keys, the demo verifier) and returns an admin token for it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from ageverify.cli import cli

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(
    url: str, body: Any = None, token: str | None = None, timeout: float = 30
) -> tuple[int, Any]:
    """``GET`` (no body) or ``POST`` JSON to ``url``: (status, decoded JSON answer)."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def issuer_environment(folder: Path, port: int, **settings: str) -> dict[str, str]:
    """The environment of a development issuer in ``folder`` serving on ``port``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AGEVERIFY_")},
        "AGEVERIFY_ENV": "development",
        "AGEVERIFY_INSTANCE_PATH": str(folder / "instance"),
        "AGEVERIFY_ISSUER_URL": f"http://127.0.0.1:{port}",
        "AGEVERIFY_BIND": f"127.0.0.1:{port}",
        "AGEVERIFY_WORKERS": "2",
        "AGEVERIFY_RATE_LIMIT_ISSUANCE": "none",
        "AGEVERIFY_RATE_LIMIT_TOKENS": "none",
        "AGEVERIFY_RATE_LIMIT_VERIFY": "none",
        **{f"AGEVERIFY_{name.upper()}": value for name, value in settings.items()},
    }


def prepare_instance(env: dict[str, str]) -> str:
    """``ageverify init --dev``, the demo verifier registered; returns a new admin token."""
    from ageverify import create_app
    from ageverify.demo import DemoVerifier, register_demo_verifier

    runner = CliRunner(env=env)
    initialised = runner.invoke(cli, ["init", "--dev"])
    assert initialised.exit_code == 0, initialised.output
    overrides = {
        name.removeprefix("AGEVERIFY_").lower(): value
        for name, value in env.items()
        if name.startswith("AGEVERIFY_") and name not in ("AGEVERIFY_BIND", "AGEVERIFY_WORKERS")
    }
    app = create_app(overrides)
    state = app.extensions["ageverify"]
    try:
        demo = DemoVerifier.load_or_create(Path(env["AGEVERIFY_INSTANCE_PATH"]))
        register_demo_verifier(state.sessions, demo, now=time.time())
    finally:
        state.close()
    created = runner.invoke(cli, ["admin-tokens", "create", "tests"])
    assert created.exit_code == 0, created.output
    return created.stdout.strip().splitlines()[0]


# The issuer as the image starts it (Dockerfile CMD).
IMAGE_COMMAND = [
    sys.executable,
    "-OO",
    "-m",
    "gunicorn",
    "-c",
    str(REPO / "deploy/gunicorn.conf.py"),
]


def start_issuer(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start the issuer with :data:`IMAGE_COMMAND`; its output goes to ``log``."""
    with log.open("ab") as sink:
        return subprocess.Popen(  # noqa: S603 - fixed argument list
            IMAGE_COMMAND,
            cwd=log.parent,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Wait until ``url``/readyz answers 200; fail with the server's log if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            if call(url + "/readyz", timeout=5)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, f"{url} was not ready in {timeout} s"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if gunicorn has not stopped in 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def worker_pids(master: int) -> list[int]:
    """The processes whose parent is ``master`` (gunicorn's workers)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces, so split after it.
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == master:
            children.append(int(entry.name))
    return sorted(children)
