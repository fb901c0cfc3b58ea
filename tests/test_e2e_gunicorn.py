"""End to end through a real gunicorn process on a free loopback port.

Starts the image's command, ``python -OO -m gunicorn -c
deploy/gunicorn.conf.py`` (and, as a second run, ``ageverify serve``) on a
prepared development instance, waits for /healthz, issues credentials and
verifies a presentation over HTTP (the SDK's Verifier fetching the JWKS, and
the issuer's verify endpoint), then stops the server and reads its log.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from servers import IMAGE_COMMAND, call, free_port

from ageverify.cli import cli
from ageverify.demo import DemoVerifier, age_facts
from ageverify.sdk import Holder, Verifier

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.e2e


@dataclass
class Server:
    url: str
    instance: Path
    log: Path
    process: subprocess.Popen[bytes]


LAUNCHERS = {
    "image-command": IMAGE_COMMAND,
    "ageverify-serve": [sys.executable, "-c", "from ageverify.cli import main; main()", "serve"],
}


@pytest.fixture(params=sorted(LAUNCHERS))
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    instance = tmp_path / "instance"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith("AGEVERIFY_") and k != "PROMETHEUS_MULTIPROC_DIR"
        },
        "TMPDIR": str(temporary),
        "AGEVERIFY_ENV": "development",
        "AGEVERIFY_INSTANCE_PATH": str(instance),
        "AGEVERIFY_ISSUER_URL": url,
        "AGEVERIFY_BIND": f"127.0.0.1:{port}",
        "AGEVERIFY_WORKERS": "2",
    }
    init = CliRunner(env=env).invoke(cli, ["init", "--dev"])
    assert init.exit_code == 0, init.output
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - fixed argument list
            LAUNCHERS[request.param],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if call(url + "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "gunicorn did not answer /healthz in 30 s"
            time.sleep(0.1)
        yield Server(url, instance, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - only when shutdown hangs
            process.kill()
            process.wait()


def test_stopping_removes_the_metrics_folder_it_made(server: Server) -> None:
    temporary = server.log.parent / "tmp"
    assert [p.name.startswith("ageverify-metrics-") for p in temporary.iterdir()] == [True]
    server.process.terminate()
    assert server.process.wait(timeout=15) == 0
    assert list(temporary.iterdir()) == []


def test_issue_and_verify_over_http(server: Server) -> None:
    status, document = call(server.url + "/.well-known/age-verification")
    assert status == 200 and document["issuer"] == server.url
    assert call(server.url + "/readyz")[0] == 200

    attestation = DemoVerifier.load_or_create(server.instance).attest(
        issuer=server.url, age_over=age_facts(30, document["thresholds"])
    )
    wallet = Holder()
    credentials = wallet.request_credentials(server.url, attestation, count=5)
    assert len(credentials) == 5

    # Offline verification: the SDK fetches discovery and JWKS over HTTP once.
    audience = "https://video.example"
    platform = Verifier(audience, issuer=server.url, thresholds=None)
    nonce = platform.challenge()
    proof = platform.verify(wallet.present(audience, nonce, min_age=18), nonce=nonce, min_age=18)
    assert proof.facts == {"age_over_18": True}

    # The verify endpoint, for platforms without the SDK.
    presentation = wallet.present(audience, "nonce-from-the-platform", min_age=18)
    status, answer = call(
        server.url + "/v1/presentations/verify",
        {
            "presentation": presentation,
            "audience": audience,
            "nonce": "nonce-from-the-platform",
            "min_age": 18,
        },
    )
    assert (status, answer["verified"], answer["facts"]) == (200, True, {"age_over_18": True})

    # The same attestation again is a replay, answered with its code.
    replay = call(
        server.url + "/v1/credentials",
        {"attestation": attestation, "holder_keys": wallet.new_keys(1)},
    )
    assert replay == (
        409,
        {"code": "attestation-replayed", "description": replay[1]["description"]},
    )

    log = server.log.read_text()
    assert "DEVELOPMENT mode" in log
    assert "POST /v1/credentials 200" in log
    assert "POST /v1/presentations/verify 200" in log
    for secret in (
        audience,
        "nonce-from-the-platform",
        attestation.split(".")[1],
        credentials[0][:40],
    ):
        assert secret not in log
    assert "Traceback" not in log


def _counter(text: str, name: str, labels: dict[str, str]) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_one_scrape_counts_every_worker(server: Server) -> None:
    def healthz_count() -> float:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:  # noqa: S310
            text = response.read().decode()
        labels = {"route": "/healthz", "http_method": "GET", "status": "200"}
        return _counter(text, "ageverify_http_requests_total", labels)

    before = healthz_count()
    for _ in range(40):
        assert call(server.url + "/healthz")[0] == 200
    # Each scrape lands on whichever of the two workers accepts it; every one
    # must report the requests of both.
    assert [healthz_count() for _ in range(6)] == [before + 40] * 6


def test_sigterm_lets_the_request_in_flight_finish(server: Server) -> None:
    import signal

    host, port = server.url.removeprefix("http://").split(":")
    body = b'{"attestation": "x", "holder_keys": []}'
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/credentials HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
            b"Content-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:10]
        )
        time.sleep(0.3)  # the worker is now reading this request's body
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        connection.sendall(body[10:])
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b'"code":"jws-malformed"' in answer
    assert server.process.wait(timeout=30) == 0
