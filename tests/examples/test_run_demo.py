"""``examples/run_demo.py``: the launcher starts every service, prints where, stops on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from examples.run_demo import REPO, Ports, check_free, free_ports

pytestmark = pytest.mark.e2e


def _answers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback URL
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_the_launcher_prints_one_line_per_service_and_stops_them_all(tmp_path: Path) -> None:
    issuer, verifier, chat_a, chat_b = free_ports(4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGEVERIFY_")}
    launcher = subprocess.Popen(  # noqa: S603 - fixed argument list
        [sys.executable, "-m", "examples.run_demo", "--folder", str(tmp_path)]
        + ["--issuer-port", str(issuer), "--verifier-port", str(verifier)]
        + ["--chat-a-port", str(chat_a), "--chat-b-port", str(chat_b)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("Ctrl-C") for line in lines):
            assert time.monotonic() < deadline, "".join(lines)
            line = launcher.stdout.readline()
            assert line, "the launcher exited early:\n" + "".join(lines)
            lines.append(line)
        printed = dict(
            re.findall(
                r"^(issuer \+ wallet|demo verifier|Demo chat A|Demo chat B)\s+(\S+)",
                "".join(lines),
                re.M,
            )
        )
        assert printed == {
            "issuer + wallet": f"http://127.0.0.1:{issuer}",
            "demo verifier": f"http://127.0.0.1:{verifier}",
            "Demo chat A": f"http://127.0.0.1:{chat_a}",
            "Demo chat B": f"http://127.0.0.1:{chat_b}",
        }
        assert _answers(printed["issuer + wallet"] + "/healthz") == 200
        for url in list(printed.values())[1:]:
            assert _answers(url + "/") == 200

        launcher.send_signal(signal.SIGTERM)
        assert launcher.wait(timeout=30) == 0
        for url in printed.values():
            assert _answers(url + "/") is None, f"{url} still answers after the launcher stopped"
        # The issuer's URL is the port it served on, and its log says so.
        log = (tmp_path / "logs" / "issuer.log").read_text(encoding="utf-8")
        assert f"the issuer URL is http://127.0.0.1:{issuer}" in log
    finally:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()


def test_a_port_in_use_is_named_before_anything_starts() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        issuer, verifier, chat_a = free_ports(3)
        with pytest.raises(RuntimeError, match=f"port {port} is in use"):
            check_free(Ports(issuer, verifier, chat_a, port))
