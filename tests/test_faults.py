"""Faults: a worker killed mid-issuance, PostgreSQL going away and coming back, a full disk.

Each issuance records the attestation's ``jti`` and the aggregate counts in
the transaction that signs the batch; each key or verifier event is appended
to the transparency log in the transaction that makes the change. So after
any crash the database holds every batch whole or not at all, and the log
has no gap. A database that is down or full answers 503 with a code, never
500, and the issuer recovers without a restart once it is back.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from servers import (
    call,
    free_port,
    issuer_environment,
    prepare_instance,
    start_issuer,
    stop,
    wait_ready,
    worker_pids,
)

from ageverify.demo import DemoVerifier, age_facts
from ageverify.formats import jose
from ageverify.sdk import Holder
from ageverify.translog.audit import audit

pytestmark = pytest.mark.e2e

THRESHOLDS = (13, 15, 16, 18, 21)


def attestations(instance: Path, issuer_url: str, count: int) -> list[tuple[str, str]]:
    """``count`` fresh attestations for a 30-year-old, with their jti."""
    demo = DemoVerifier.load_or_create(instance)
    made = []
    for _ in range(count):
        token = demo.attest(issuer=issuer_url, age_over=age_facts(30, THRESHOLDS))
        payload = json.loads(jose.b64url_decode(token.split(".")[1]))
        made.append((token, payload["jti"]))
    return made


def issue(url: str, attestation: str, count: int = 5) -> tuple[int | str, Any]:
    keys = Holder().new_keys(count)
    try:
        return call(url + "/v1/credentials", {"attestation": attestation, "holder_keys": keys})
    except OSError as error:  # the worker died under this request
        return type(error).__name__, None


def recorded(database: Path) -> tuple[set[str], dict[int, int]]:
    """The jti of every recorded issuance, and the issuance count per threshold (over)."""
    with closing(sqlite3.connect(database)) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        used = {row[0] for row in connection.execute("SELECT jti FROM used_attestations")}
        counts = dict(
            connection.execute(
                "SELECT threshold, SUM(count) FROM issuance_count_shards "
                "WHERE over GROUP BY threshold"
            ).fetchall()
        )
    return used, counts


def fetcher(url: str) -> Any:
    def fetch(address: str) -> bytes:
        with urllib.request.urlopen(address, timeout=30) as response:  # noqa: S310 - loopback
            return response.read()

    return fetch


def test_a_worker_killed_under_load_leaves_no_batch_half_recorded_and_no_log_gap(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = issuer_environment(tmp_path, port)
    url = env["AGEVERIFY_ISSUER_URL"]
    token = prepare_instance(env)
    log = tmp_path / "issuer.log"
    process = start_issuer(env, log)
    try:
        wait_ready(url, process, log)
        pending = attestations(tmp_path / "instance", url, 240)

        def register(index: int) -> int | str:
            key = Ed25519PrivateKey.generate()
            body = {
                "id": f"verifier-{index}",
                "name": f"Verifier {index}",
                "jwks": {"keys": [jose.public_jwk(key.public_key())]},
                "methods": ["bank"],
            }
            try:
                return call(url + "/v1/admin/verifiers", body, token=token)[0]
            except OSError as error:
                return type(error).__name__

        workers = worker_pids(process.pid)
        assert len(workers) == 2
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            issued = [pool.submit(issue, url, attestation) for attestation, _ in pending[:120]]
            registered = [pool.submit(register, index) for index in range(20)]
            time.sleep(0.5)
            os.kill(workers[0], signal.SIGKILL)  # mid-load, whatever it was doing
            issued += [pool.submit(issue, url, attestation) for attestation, _ in pending[120:]]
            outcomes = [future.result()[0] for future in issued]
            registrations = [future.result() for future in registered]
        wait_ready(url, process, log)
        assert workers[0] not in worker_pids(process.pid)  # replaced by a new worker
    finally:
        stop(process)

    # Every request either succeeded or lost its connection with the worker.
    assert set(outcomes) <= {200, "RemoteDisconnected", "ConnectionResetError", "BadStatusLine"}
    assert set(registrations) <= {201, "RemoteDisconnected", "ConnectionResetError"}
    used, counts = recorded(tmp_path / "instance" / "ageverify.db")
    succeeded = {jti for (_, jti), outcome in zip(pending, outcomes, strict=True) if outcome == 200}
    # Whole batches only: each recorded jti was counted once for every fact it attested.
    assert succeeded <= used <= {jti for _, jti in pending}
    assert counts == {threshold: len(used) for threshold in THRESHOLDS}

    process = start_issuer(env, log)
    try:
        wait_ready(url, process, log)
        report = audit(fetcher(url), issuer_url=url)
        assert report.passed, [(check.name, check.message) for check in report.failures]
    finally:
        stop(process)
    assert "Traceback" not in log.read_text(errors="replace")


def test_postgresql_down_gives_503_and_the_issuer_recovers_without_a_restart(
    tmp_path: Path,
) -> None:
    from pg import PostgresServer, PostgresUnavailable

    try:
        postgres = PostgresServer.start()
    except PostgresUnavailable as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    try:
        port = free_port()
        env = issuer_environment(tmp_path, port, database_url=postgres.create_database())
        url = env["AGEVERIFY_ISSUER_URL"]
        prepare_instance(env)
        log = tmp_path / "issuer.log"
        process = start_issuer(env, log)
        try:
            wait_ready(url, process, log)
            pending = iter(attestations(tmp_path / "instance", url, 200))
            assert issue(url, next(pending)[0])[0] == 200

            postgres.halt()
            down = [issue(url, next(pending)[0]) for _ in range(4)]
            assert [(status, body["code"]) for status, body in down] == [(503, "unavailable")] * 4
            assert call(url + "/readyz")[0] == 503

            postgres.resume()
            # Generous: on a loaded machine the restarted server can be slow to take connections.
            deadline = time.monotonic() + 60
            while issue(url, next(pending)[0])[0] != 200:
                assert time.monotonic() < deadline, "the issuer did not recover"
                time.sleep(0.2)
            assert call(url + "/readyz")[0] == 200
            assert process.poll() is None  # the same server throughout
        finally:
            stop(process)
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "internal-error" not in text
    finally:
        postgres.stop()


# Run in its own process, on a small filesystem of its own: the instance is
# created, the filesystem is filled up to a few pages, and issuance goes on
# until the disk is full; then the filler is removed and issuance resumes.
_FULL_DISK = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from ageverify import create_app
    from ageverify.demo import DemoVerifier, age_facts, register_demo_verifier
    from ageverify.sdk import Holder

    instance = Path(sys.argv[1])
    app = create_app({"env": "development", "instance_path": instance, "log_level": "ERROR",
                      "rate_limit_issuance": "none"})
    state = app.extensions["ageverify"]
    demo = DemoVerifier.load_or_create(instance)
    register_demo_verifier(state.sessions, demo, now=time.time())
    client = app.test_client()
    facts = age_facts(30, state.settings.thresholds)

    def issue(phase):
        attestation = demo.attest(issuer=state.settings.issuer_url, age_over=facts)
        body = {"attestation": attestation, "holder_keys": Holder().new_keys(3)}
        response = client.post("/v1/credentials", json=body)
        print(json.dumps([phase, response.status_code, response.json.get("code"),
                          attestation.split(".")[1]]), flush=True)
        return response.status_code

    issue("before")
    filler = instance.parent / "filler"
    free = os.statvfs(instance).f_bavail * os.statvfs(instance).f_frsize
    with open(filler, "wb") as handle:
        handle.write(bytes(max(0, free - 48 * 1024)))
    full = 0
    for _ in range(300):
        if issue("filling") == 503:
            full += 1
            if full == 5:
                break
    filler.unlink()
    issue("after")
    """
)


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Any:
    """A 16 MiB tmpfs mounted in ``tmp_path`` (root only), unmounted afterwards."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount_point)]
    mounted = subprocess.run(  # noqa: S603 - fixed arguments
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    yield mount_point
    # Lazy: detached now even if something still holds a file there.
    subprocess.run(["umount", "--lazy", str(mount_point)], check=False)  # noqa: S603, S607


def test_a_full_disk_gives_a_clear_error_and_no_corruption(small_filesystem: Path) -> None:
    from ageverify.config import write_dev_settings

    instance = small_filesystem / "instance"
    write_dev_settings(instance)
    result = subprocess.run(  # noqa: S603 - this interpreter, a script of ours
        [sys.executable, "-c", _FULL_DISK, str(instance)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    outcomes = [(phase, status, code) for phase, status, code, _ in answers]
    assert outcomes[0] == ("before", 200, None)
    filling = [(status, code) for phase, status, code in outcomes if phase == "filling"]
    first_full = filling.index((503, "storage-full"))
    assert set(filling[:first_full]) <= {(200, None)}
    assert set(filling[first_full:]) == {(503, "storage-full")}
    assert outcomes[-1] == ("after", 200, None)  # space again: no restart needed

    # Nothing was half-written: exactly the batches answered 200 are recorded.
    used, counts = recorded(instance / "ageverify.db")
    issued = {
        json.loads(jose.b64url_decode(payload))["jti"]
        for _, status, _, payload in answers
        if status == 200
    }
    assert used == issued
    assert counts == {threshold: len(issued) for threshold in THRESHOLDS}
