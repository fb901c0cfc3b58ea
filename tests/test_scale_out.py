"""Two issuer instances behind one address, on one PostgreSQL and one Redis.

Each instance is its own gunicorn (two workers) on its own loopback port;
they share nothing but the database, Redis, the key folder and the issuer
URL, as instances behind a load balancer do. The tests show that:

- an attestation used at one instance is refused at the other;
- a verifier suspended at one instance is refused at once by the other,
  whose workers had it remembered, and accepted again once resumed there;
- issuance across an epoch change (the moment the next signing key takes
  over) fails no request at either instance, and every credential verifies;
- transparency log appends from both instances at once stay serial: one
  checkpoint, no fork, no gap, and the auditor passes every check;
- a Privacy Pass token redeemed at one platform instance is refused at
  another that shares the Redis double-spend store.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pg import PostgresServer, PostgresUnavailable
from redis_server import RedisServer
from servers import (
    call,
    free_port,
    issuer_environment,
    prepare_instance,
    start_issuer,
    stop,
    wait_ready,
)

from ageverify.demo import DEMO_VERIFIER_ID, DemoVerifier, age_facts
from ageverify.errors import VerificationError
from ageverify.formats import jose, privacypass
from ageverify.sdk import Holder, RedisSpentTokens, TokenVerifier, Verifier
from ageverify.translog.audit import audit

pytestmark = pytest.mark.e2e

EPOCH_SECONDS = 60
THRESHOLDS = (13, 15, 16, 18, 21)


@dataclass
class Cluster:
    issuer_url: str  # the one address credentials name (instance a's, as a balancer's would be)
    instances: list[str]
    instance_path: Path
    redis_url: str
    admin_token: str

    def attestation(self, age: int = 30) -> str:
        return DemoVerifier.load_or_create(self.instance_path).attest(
            issuer=self.issuer_url, age_over=age_facts(age, THRESHOLDS)
        )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        postgres = PostgresServer.start()
    except PostgresUnavailable as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(str(missing))
        pytest.skip(str(missing))
    folder = tmp_path_factory.mktemp("cluster")
    redis = RedisServer(folder / "redis")
    processes = []
    try:
        ports = [free_port(), free_port()]
        # Both instances name the address of the first, as a balancer's would be.
        env = issuer_environment(
            folder,
            ports[0],
            database_url=postgres.create_database(),
            redis_url=redis.url,
            epoch_seconds=str(EPOCH_SECONDS),
            keys_ahead="3",
        )
        admin_token = prepare_instance(env)
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for port, url in zip(ports, urls, strict=True):
            log = folder / f"instance-{port}.log"
            process = start_issuer({**env, "AGEVERIFY_BIND": f"127.0.0.1:{port}"}, log)
            processes.append(process)
            wait_ready(url, process, log)
        issuer_url = env["AGEVERIFY_ISSUER_URL"]
        yield Cluster(issuer_url, urls, folder / "instance", redis.url, admin_token)
    finally:
        for process in processes:
            stop(process)
        redis.stop()
        postgres.stop()


def issue(url: str, attestation: str, holder: Holder, count: int = 3) -> tuple[int, Any]:
    keys = holder.new_keys(count)
    return call(url + "/v1/credentials", {"attestation": attestation, "holder_keys": keys})


def test_an_attestation_used_at_one_instance_is_refused_at_the_other(cluster: Cluster) -> None:
    first, second = cluster.instances
    attestation = cluster.attestation()
    assert issue(first, attestation, Holder())[0] == 200
    status, body = issue(second, attestation, Holder())
    assert (status, body["code"]) == (409, "attestation-replayed")


def test_a_verifier_suspended_at_one_instance_is_refused_at_once_by_the_other(
    cluster: Cluster,
) -> None:
    first, second = cluster.instances
    admin = f"/v1/admin/verifiers/{DEMO_VERIFIER_ID}"
    # Every worker of the second instance issues for the verifier, and remembers it.
    for _ in range(6):
        assert issue(second, cluster.attestation(), Holder(), count=1)[0] == 200
    assert call(first + admin + "/suspend", {}, cluster.admin_token)[0] == 200
    try:
        refused = [issue(second, cluster.attestation(), Holder(), count=1) for _ in range(6)]
        assert {(status, body["code"]) for status, body in refused} == {
            (403, "attestation-verifier-suspended")
        }
    finally:
        assert call(second + admin + "/resume", {}, cluster.admin_token)[0] == 200
    assert issue(first, cluster.attestation(), Holder(), count=1)[0] == 200
    assert issue(second, cluster.attestation(), Holder(), count=1)[0] == 200


def test_issuance_across_an_epoch_change_fails_no_request(cluster: Cluster) -> None:
    # Start three seconds before the next epoch boundary and issue at both
    # instances until three seconds after it.
    boundary = (int(time.time()) // EPOCH_SECONDS + 1) * EPOCH_SECONDS
    if boundary - time.time() < 4:
        boundary += EPOCH_SECONDS
    attestations = [cluster.attestation() for _ in range(400)]
    time.sleep(max(0.0, boundary - 3 - time.time()))

    def one(index: int) -> tuple[int, list[str]]:
        status, body = issue(cluster.instances[index % 2], attestations[index], Holder(), count=1)
        return status, body.get("credentials", [body])

    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = []
        index = 0
        while time.time() < boundary + 3 and index < len(attestations):
            futures.append(pool.submit(one, index))
            index += 1
            time.sleep(0.02)
        results = [future.result() for future in futures]
    assert [status for status, _ in results] == [200] * len(results)
    kids = set()
    platform = Verifier("https://chat.example", issuer=cluster.issuer_url, thresholds=THRESHOLDS)
    for _, (credential,) in results:
        header = json.loads(jose.b64url_decode(credential.split(".", 1)[0]))
        kids.add(header["kid"])
    assert len(kids) == 2, "the next epoch's key took over during the run"
    assert set(platform.keys()) >= kids  # published ahead: platforms knew both


def test_log_appends_from_both_instances_stay_serial(cluster: Cluster) -> None:
    def register(index: int) -> int:
        key = Ed25519PrivateKey.generate()
        body = {
            "id": f"verifier-{index}",
            "name": f"Verifier {index}",
            "jwks": {"keys": [jose.public_jwk(key.public_key())]},
            "methods": ["bank"],
        }
        url = cluster.instances[index % 2] + "/v1/admin/verifiers"
        return call(url, body, token=cluster.admin_token)[0]

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(register, range(30)))
    assert statuses == [201] * 30

    def fetcher(instance: str) -> Any:
        # The auditor asks for the issuer's URLs; this instance answers them.
        def fetch(url: str) -> bytes:
            local = instance + url.removeprefix(cluster.issuer_url)
            with urllib.request.urlopen(local, timeout=30) as response:  # noqa: S310
                return response.read()

        return fetch

    reports = [audit(fetcher(url), issuer_url=cluster.issuer_url) for url in cluster.instances]
    for report in reports:
        assert report.passed, [(check.name, check.message) for check in report.failures]
        accredited = {verifier.verifier_id for verifier in report.verifiers}
        assert accredited >= {f"verifier-{index}" for index in range(30)}
    assert reports[0].size == reports[1].size
    checkpoints = [
        fetcher(url)(cluster.issuer_url + "/log/checkpoint") for url in cluster.instances
    ]
    assert checkpoints[0] == checkpoints[1]


def test_a_token_redeemed_at_one_platform_instance_is_refused_at_another(
    cluster: Cluster,
) -> None:
    wallet = Holder()
    keys = wallet.new_keys(2)
    credentials = call(
        cluster.instances[1] + "/v1/credentials",
        {"attestation": cluster.attestation(), "holder_keys": keys},
    )[1]["credentials"]
    wallet.store_credentials(cluster.issuer_url, credentials, keys)
    (token,) = wallet.fetch_tokens(cluster.issuer_url, 18, 1)

    def platform_instance() -> TokenVerifier:
        return TokenVerifier.from_issuer(
            cluster.issuer_url,
            allow_empty_context=True,
            spent=RedisSpentTokens.from_url(cluster.redis_url),
        )

    authorization = privacypass.format_authorization(token)
    first, second = platform_instance(), platform_instance()
    assert first.verify(authorization, threshold=18).threshold == 18
    with pytest.raises(VerificationError) as caught:
        second.verify(authorization, threshold=18)
    assert caught.value.code == "token-replayed"
