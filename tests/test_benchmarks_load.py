"""The load benchmark's pieces, without timing anything.

``python -m benchmarks.load --quick`` takes more than a minute (two gunicorn
servers per database, PostgreSQL started), too long for the test suite, so
here: the ceiling app answers as the issuer's endpoints do, issuance bodies
are distinct and single use, wrk's output is read, every row reaches the
report, and (only where wrk is installed: a benchmark, not a CI requirement)
both wrk scripts run against the ceiling under gunicorn.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ageverify.demo import DemoVerifier, age_facts
from ageverify.formats import jose
from benchmarks import load
from benchmarks.ceiling import create_app


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, object]:
    """An issuer key, a holder key, the demo verifier, and the ceiling's keys file."""
    issuer = ec.generate_private_key(ec.SECP256R1())
    holder = ec.generate_private_key(ec.SECP256R1())
    demo = DemoVerifier(ed25519.Ed25519PrivateKey.generate())
    path = tmp_path / "ceiling-keys.json"
    path.write_text(json.dumps({"issuer": jose.public_jwk(issuer), "verifier": demo.public_jwk}))
    return {"issuer": issuer, "holder": holder, "demo": demo, "path": path}


def _presentation(issuer: ec.EllipticCurvePrivateKey, holder: ec.EllipticCurvePrivateKey) -> str:
    """A credential with ``cnf`` the holder key, one disclosure, and a Key Binding JWT."""
    credential = jose.sign(
        issuer,
        {"alg": "ES256", "typ": "dc+sd-jwt"},
        {"iss": "https://issuer.example", "cnf": {"jwk": jose.public_jwk(holder)}},
    )
    kb_jwt = jose.sign(
        holder, {"alg": "ES256", "typ": "kb+jwt"}, {"aud": load.AUDIENCE, "nonce": load.NONCE}
    )
    return f"{credential}~WyJzYWx0IiwiYWdlX292ZXJfMTgiLHRydWVd~{kb_jwt}"


def _attest(demo: DemoVerifier) -> str:
    return demo.attest(issuer="https://issuer.example", age_over=age_facts(30, (13, 18)))


def test_the_ceiling_verifies_a_presentation_and_refuses_a_forged_one(keys: dict) -> None:
    client = create_app(str(keys["path"])).test_client()
    presentation = _presentation(keys["issuer"], keys["holder"])
    answer = client.post(
        load.VERIFY_PATH, data=load.verify_body(presentation), content_type="application/json"
    )
    assert answer.status_code == 200 and answer.get_json() == {"verified": True}

    impostor = ec.generate_private_key(ec.SECP256R1())
    forged = _presentation(impostor, keys["holder"])
    # Nothing else: the signature check raises, and Flask answers 500.
    forged_body = load.verify_body(forged)
    answer = client.post(load.VERIFY_PATH, data=forged_body, content_type="application/json")
    assert answer.status_code == 500


def test_the_ceiling_signs_once_per_holder_key(keys: dict) -> None:
    client = create_app(str(keys["path"])).test_client()
    pool = load.holder_key_pool(load.BATCH)
    (body,) = load.issuance_bodies(lambda: _attest(keys["demo"]), pool, 1, batch=load.BATCH)
    answer = client.post(load.ISSUE_PATH, data=body, content_type="application/json")
    assert answer.status_code == 200
    signatures = answer.get_json()["credentials"]
    assert len(signatures) == load.BATCH
    # DER ECDSA signatures by the ceiling's own throwaway P-256 key.
    for signature in signatures:
        der = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        assert der[0] == 0x30 and 8 <= len(der) <= 72

    refused = json.loads(body)
    refused["attestation"] = _attest(DemoVerifier(ed25519.Ed25519PrivateKey.generate()))
    assert client.post(load.ISSUE_PATH, json=refused).status_code == 500

    # Like the issuer, it builds each holder key: a point off the curve fails.
    off_curve = json.loads(body)
    jwk = off_curve["holder_keys"][0]
    jwk["y"] = jwk["x"]
    assert client.post(load.ISSUE_PATH, json=off_curve).status_code == 500


def test_issuance_bodies_are_distinct_single_use_and_one_a_line(keys: dict, tmp_path: Path) -> None:
    pool = load.holder_key_pool(40)
    bodies = load.issuance_bodies(lambda: _attest(keys["demo"]), pool, 12, batch=load.BATCH)
    documents = [json.loads(body) for body in bodies]
    jtis = set()
    for document in documents:
        assert set(document) == {"attestation", "holder_keys"}
        coordinates = {(jwk["x"], jwk["y"]) for jwk in document["holder_keys"]}
        assert len(coordinates) == load.BATCH  # the issuer refuses a key twice in a batch
        payload = document["attestation"].split(".")[1]
        jtis.add(json.loads(jose.b64url_decode(payload))["jti"])
    assert len(jtis) == 12  # every attestation fresh: each jti is single use

    path = load.write_bodies(tmp_path / "bodies.jsonl", bodies)
    assert path.read_bytes().splitlines() == bodies

    prefix = load.write_thread_bodies(tmp_path / "rate.jsonl", bodies, 5)
    shares = [Path(f"{prefix}.{k}").read_bytes().splitlines() for k in range(5)]
    assert sorted(line for share in shares for line in share) == sorted(bodies)
    single = load.write_thread_bodies(tmp_path / "verify.jsonl", bodies[:1], 3)
    assert all(Path(f"{single}.{k}").read_bytes().splitlines() == bodies[:1] for k in range(3))


WRK_OUTPUT = """\
Running 5s test @ http://127.0.0.1:8000/v1/presentations/verify
  2 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    14.27ms    5.02ms  48.12ms   71.43%
  4012 requests in 5.01s, 1.02MB read
  Non-2xx or 3xx responses: 3
Requests/sec:    800.80
Transfer/sec:    208.32KB
wrk-summary {"requests": 4012, "duration_us": 5010000, "non_2xx": 3, "connect_errors": 0, \
"read_errors": 1, "write_errors": 0, "timeouts": 2, "p50_us": 13100, "p99_us": 31250, \
"max_us": 48120}
"""


def test_wrk_summary_is_read() -> None:
    result = load.parse_wrk_output(WRK_OUTPUT.replace("\\\n", ""))
    assert (result.requests, result.non_2xx, result.socket_errors) == (4012, 3, 3)
    assert result.rate == pytest.approx(800.8, abs=0.1)
    assert (result.p50, result.p99) == (0.0131, 0.03125)
    with pytest.raises(ValueError, match="no wrk-summary"):
        load.parse_wrk_output("Running 5s test\n")


def test_constant_rate_answers_are_read() -> None:
    output = (
        "Running 8s test @ http://127.0.0.1:8000/v1/credentials\n"
        "  Socket errors: connect 0, read 2, write 0, timeout 0\n"
        "answer 200 1500\nanswer 200 2500\nanswer 409 900\nanswer 200 40000\n"
        "schedule 7 1\n"
    )
    result = load.parse_constant_rate_output(output)
    assert (result.sent, result.behind, result.failures) == (7, 1, 3)
    assert result.latencies == [0.0015, 0.0025, 0.04]
    assert result.percentile(0.5) == 0.0025
    assert result.percentile(0.99) == 0.04
    with pytest.raises(ValueError, match="no schedule"):
        load.parse_constant_rate_output("answer 200 1\n")


def _measured(backend: str) -> load.Measured:
    measured = load.Measured(backend, workers=5)
    for server, scale in (("issuer", 1.0), ("ceiling", 1.25)):
        for endpoint, rate in (("verify", 800.0), ("issue", 100.0)):
            figures = measured.at(server, endpoint)
            figures.saturated += [rate * scale, rate * scale * 1.1]
            figures.best_connections += [10, 20]
            figures.closed_p99 += [0.05, 0.06]
            figures.p50 += [0.004 / scale]
            figures.p99 += [0.012 / scale]
        measured.worker_mb[server] = 70.0 / scale
    return measured


def test_the_report_has_every_row_with_its_verdict() -> None:
    rows = load.rows_for(_measured("SQLite")) + load.rows_for(_measured("PostgreSQL"))
    text = load.report(rows, ["PostgreSQL: a note"])
    for backend in ("SQLite", "PostgreSQL"):
        for figure in (
            "verify throughput at saturation",
            "verify p50 at 70% of saturation",
            "verify p99 at 70% of saturation",
            "issuance throughput (batch of 30)",
            "issuance p50 at 70% of saturation",
            "issuance p99 at 70% of saturation",
            "resident memory per worker (max VmRSS)",
        ):
            assert f"{backend}: {figure}" in text
    verdicts = {row.figure.split(": ", 1)[1]: row.verdict() for row in rows[:7]}
    assert verdicts["verify throughput at saturation"] == (">=0.80x", "ok")  # 0.80
    assert verdicts["issuance throughput (batch of 30)"] == (">=0.60x", "ok")
    assert verdicts["verify p99 at 70% of saturation"] == ("<=20ms", "ok")
    assert verdicts["resident memory per worker (max VmRSS)"] == ("<=80MB", "ok")
    assert verdicts["verify p50 at 70% of saturation"] == ("-", "")
    assert text.splitlines()[-1] == "PostgreSQL: a note"


def test_a_run_that_failed_requests_is_no_verdict() -> None:
    measured = _measured("SQLite")
    measured.at("issuer", "issue").problems.append("3 non-2xx answers")
    row = load.rows_for(measured)[3]
    assert row.verdict() == (">=0.60x", "ERR")


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (a benchmark tool)")
def test_both_wrk_scripts_run_against_the_ceiling(keys: dict, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGEVERIFY_")}
    env["AGEVERIFY_WORKERS"] = "2"
    server = load.start_gunicorn(
        "ceiling",
        f"benchmarks.ceiling:create_app({str(keys['path'])!r})",
        port=load.free_port(),
        env=env,
        log=tmp_path / "ceiling.log",
    )
    try:
        body = load.verify_body(_presentation(keys["issuer"], keys["holder"]))
        load.wait_until(server, lambda: load.post(server.url + load.VERIFY_PATH, body)[0] == 200)
        saturated = load.run_wrk(
            server.url + load.VERIFY_PATH,
            load.write_bodies(tmp_path / "verify.jsonl", [body]),
            connections=4,
            threads=2,
            seconds=1,
        )
        assert saturated.requests > 0 and saturated.non_2xx == 0

        pool = load.holder_key_pool(load.BATCH)
        bodies = load.issuance_bodies(lambda: _attest(keys["demo"]), pool, 40, batch=load.BATCH)
        prefix = load.write_thread_bodies(tmp_path / "issue.jsonl", bodies, 4)
        steady = load.run_constant_rate(
            server.url + load.ISSUE_PATH, prefix, rate=20, seconds=2, connections=4
        )
        assert steady.failures == 0 and steady.sent > 0
        assert len(steady.latencies) >= steady.sent - 4  # at most one in flight per connection
        assert all(latency > 0 for latency in steady.latencies)
        server.sample_memory()
        assert server.peak_worker_mb > 0 and len(server.workers_seen) == 2
    finally:
        server.stop()


def test_the_issuer_is_benchmarked_with_productions_log_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ageverify.config import Settings, write_dev_settings

    instance = tmp_path / "instance"
    write_dev_settings(instance)
    env = load._server_env(instance, "http://127.0.0.1:1", None, tmp_path / "bytecode")
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings.load()
    # Development mode would write text lines; production writes JSON.
    assert settings.development
    assert settings.log_format == "json"
    assert settings.rate_limit_issuance == "none"
    assert settings.rate_limit_verify == "none"


def test_a_ratio_just_under_its_target_does_not_print_as_the_target() -> None:
    row = load.Row("PostgreSQL: issuance throughput", "/s", 304.7, 508.2, "ratio>=", 0.60)
    line = load.report([row]).splitlines()[1]
    assert row.verdict() == (">=0.60x", "MISS")
    assert " 0.599 " in line
    met = load.Row("PostgreSQL: issuance throughput", "/s", 304.92, 508.2, "ratio>=", 0.60)
    assert met.verdict() == (">=0.60x", "ok")
    assert " 0.600 " in load.report([met]).splitlines()[1]
