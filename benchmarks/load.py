"""Load benchmark: the issuer under gunicorn against a ceiling served the same way.

Run with ``make bench`` (``python -m benchmarks.load``; ``--quick`` for a
smoke run). Needs ``wrk`` (Debian: ``apt-get install wrk``).

Two gunicorn servers run side by side on loopback, started as the image
starts the issuer (``python -OO -m gunicorn -c deploy/gunicorn.conf.py``,
with bytecode compiled first), so with the same workers, worker class and
limits:
the issuer on a development instance (writing production's JSON log lines),
and the ceiling
(``benchmarks/ceiling.py``), a Flask app doing only the cryptography of each
request. Each endpoint is measured on both, alternately, and reported as a
ratio to the ceiling:

- ``POST /v1/presentations/verify``: one presentation posted again and again
  (the endpoint does not consume nonces; its Key Binding JWT is made just
  before each run, well inside its 300 s window);
- ``POST /v1/credentials``: every request a fresh attestation (single use)
  with ``--batch`` holder keys, from a file of bodies written just before each
  run (attestations live 600 s) and long enough for it.

Saturation: ``wrk`` (closed loop, ``wrk/post_bodies.lua``) with 2 and 4
connections per worker; the higher throughput is the saturated rate, and the
median over ``--repeats`` rounds is reported. Latency at 70% of that rate:
Debian has no ``wrk2`` and plain ``wrk`` has no rate control, so
``wrk/constant_rate.lua`` does what wrk2 does inside wrk: one connection per
thread, each sending on a fixed schedule, every latency counted from the
request's scheduled send time, so a stalled server cannot hide its queue (no
coordinated omission). An open-loop generator in Python was tried first: at
0.4 to 1.2 ms of CPU per request it took a good part of this 2-core machine
from the servers it measured; wrk's threads take a few microseconds. Memory:
the VmRSS of every gunicorn worker, read from /proc four times a second
through all runs; the maximum is reported.

All of it on SQLite (the embedded default) and on PostgreSQL, when a server
can be started (``tests/pg.py``). The load comes from one loopback client, so
the issuance and verification rate limits (per client address) are turned off
for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric import ec

if TYPE_CHECKING:
    from ageverify.sdk import Holder

REPO = Path(__file__).resolve().parent.parent
WRK_SCRIPTS = Path(__file__).resolve().parent / "wrk"
LUA_SCRIPT = WRK_SCRIPTS / "post_bodies.lua"
CONSTANT_RATE_SCRIPT = WRK_SCRIPTS / "constant_rate.lua"
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
# The interpreter's arguments before the config, as the image runs gunicorn
# (its CMD: python -OO -m gunicorn -c deploy/gunicorn.conf.py).
SERVER_ARGUMENTS = ("-OO", "-m", "gunicorn", "-c")
VERIFY_PATH = "/v1/presentations/verify"
ISSUE_PATH = "/v1/credentials"
AUDIENCE = "https://platform.example"
NONCE = "load-benchmark-nonce"
BATCH = 30
# The fraction of the saturated rate at which latency is read.
LOAD_FRACTION = 0.7
# Targets: throughput as a fraction of the ceiling's; p99 and memory absolute.
VERIFY_THROUGHPUT_TARGET = 0.80
ISSUANCE_THROUGHPUT_TARGET = 0.60
VERIFY_P99_TARGET_MS = 20.0
WORKER_RSS_TARGET_MB = 80.0


# --- wrk --------------------------------------------------------------------


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests answered, seconds, failures, closed-loop latencies in seconds."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50: float
    p99: float

    @property
    def rate(self) -> float:
        """Answers per second."""
        return self.requests / self.seconds


def parse_wrk_output(text: str) -> WrkResult:
    """The result in the ``wrk-summary {json}`` line that ``post_bodies.lua`` prints."""
    for line in text.splitlines():
        if line.startswith("wrk-summary "):
            data = json.loads(line.removeprefix("wrk-summary "))
            break
    else:
        raise ValueError(f"no wrk-summary line in wrk's output:\n{text}")
    errors = sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non_2xx=data["non_2xx"],
        socket_errors=errors,
        p50=data["p50_us"] / 1e6,
        p99=data["p99_us"] / 1e6,
    )


def run_wrk(url: str, bodies: Path, *, connections: int, threads: int, seconds: int) -> WrkResult:
    """POST the bodies in the file ``bodies`` to ``url`` for ``seconds`` with wrk."""
    threads = max(1, min(threads, connections))
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
        "--",
        str(bodies),
        str(threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_wrk_output(done.stdout)


# --- constant rate ---------------------------------------------------------------


@dataclass(frozen=True)
class ConstantRateResult:
    """A run at a fixed rate: latencies (seconds, from the scheduled send time) of 2xx answers.

    ``behind`` counts requests due before the run stopped but never sent, their
    connection still waiting for an earlier answer: their latency is unknown.
    """

    sent: int
    behind: int
    latencies: list[float]
    failures: int

    def percentile(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the answers fall (nearest rank)."""
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


def parse_constant_rate_output(text: str) -> ConstantRateResult:
    """The ``answer <status> <µs>`` and ``schedule <sent> <behind>`` lines of ``constant_rate.lua``.

    Socket errors that wrk reports count as failures.
    """
    latencies = []
    failures = 0
    sent = behind = None
    for line in text.splitlines():
        if line.startswith("answer "):
            _, status, micros = line.split()
            if status.startswith("2"):
                latencies.append(int(micros) / 1e6)
            else:
                failures += 1
        elif line.startswith("schedule "):
            sent, behind = (int(n) for n in line.split()[1:])
    if sent is None or behind is None:
        raise ValueError(f"no schedule line in wrk's output:\n{text}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+)", text)
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    return ConstantRateResult(sent, behind, latencies, failures)


def write_thread_bodies(prefix: Path, bodies: Sequence[bytes], threads: int) -> Path:
    """Write ``prefix.k`` for each of ``threads`` threads: its share of ``bodies``, or all of one.

    Shares are dealt in turn (k, k + threads, ...), so no two threads send the
    same body; a single body (a presentation to verify) goes to every thread.
    """
    for k in range(threads):
        write_bodies(Path(f"{prefix}.{k}"), bodies if len(bodies) == 1 else bodies[k::threads])
    return prefix


def run_constant_rate(
    url: str, bodies: Path, *, rate: float, seconds: int, connections: int
) -> ConstantRateResult:
    """POST to ``url`` at ``rate`` a second for ``seconds`` with wrk, over ``connections``.

    ``bodies`` is the prefix of the files ``write_thread_bodies`` wrote for as
    many threads. One connection per wrk thread, each sending on its own
    schedule; see ``wrk/constant_rate.lua``.
    """
    # A common start a little ahead (threads first read their bodies), on the
    # clock the script reads: CLOCK_MONOTONIC, that of time.monotonic().
    start = time.monotonic() + 0.5
    command = [
        "wrk",
        f"-t{connections}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(CONSTANT_RATE_SCRIPT),
        url,
        "--",
        str(bodies),
        repr(rate),
        repr(start),
        str(connections),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()}")
    return parse_constant_rate_output(done.stdout)


# --- bodies -------------------------------------------------------------------


def verify_body(presentation: str) -> bytes:
    """The JSON body asking the issuer to verify ``presentation`` for 18+."""
    document = {"presentation": presentation, "audience": AUDIENCE, "nonce": NONCE, "min_age": 18}
    return json.dumps(document, separators=(",", ":")).encode()


def holder_key_pool(size: int) -> list[dict[str, str]]:
    """``size`` distinct P-256 public JWKs to cycle through in issuance bodies."""
    from ageverify.formats import jose

    return [jose.public_jwk(ec.generate_private_key(ec.SECP256R1())) for _ in range(size)]


def issuance_bodies(
    attest: Callable[[], str], pool: Sequence[dict[str, str]], count: int, *, batch: int
) -> list[bytes]:
    """``count`` issuance bodies, each a fresh attestation from ``attest`` and ``batch`` keys.

    Body i takes ``batch`` consecutive keys of ``pool`` from position i, so the
    keys of one body are distinct (the issuer refuses a key twice in a batch).
    """
    if len(pool) < batch:
        raise ValueError("the key pool must hold at least one batch")
    bodies = []
    for i in range(count):
        keys = [pool[(i + k) % len(pool)] for k in range(batch)]
        document = {"attestation": attest(), "holder_keys": keys}
        bodies.append(json.dumps(document, separators=(",", ":")).encode())
    return bodies


def write_bodies(path: Path, bodies: Sequence[bytes]) -> Path:
    """Write ``bodies`` one a line (compact JSON holds no newline) to ``path``."""
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path


# --- servers and their memory ---------------------------------------------------


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def worker_pids(master: int) -> list[int]:
    """The process ids of the children (gunicorn's workers) of process ``master``."""
    try:
        text = Path(f"/proc/{master}/task/{master}/children").read_text()
        return [int(pid) for pid in text.split()]
    except OSError:
        pids = []
        for status in Path("/proc").glob("[0-9]*/status"):
            with contextlib.suppress(OSError):
                fields = dict(
                    line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
                )
                if int(fields["PPid"]) == master:
                    pids.append(int(status.parent.name))
        return pids


def resident_mb(pid: int) -> float | None:
    """VmRSS of process ``pid`` in MB (10^6 bytes); None once it is gone."""
    return _kib_field(Path(f"/proc/{pid}/status"), "VmRSS:")


def proportional_mb(pid: int) -> float | None:
    """Pss of process ``pid`` in MB: its resident pages, each shared one divided among sharers."""
    return _kib_field(Path(f"/proc/{pid}/smaps_rollup"), "Pss:")


def _kib_field(path: Path, name: str) -> float | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


@dataclass
class Server:
    """A gunicorn master started here, and the largest worker VmRSS seen."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    peak_worker_mb: float = 0.0
    peak_worker_pss_mb: float = 0.0
    workers_seen: set[int] = field(default_factory=set)

    @property
    def host_port(self) -> tuple[str, int]:
        """Host and port it listens on."""
        host, _, port = self.url.removeprefix("http://").rpartition(":")
        return host, int(port)

    def sample_memory(self) -> None:
        """Read the VmRSS of every current worker and keep the largest."""
        for pid in worker_pids(self.process.pid):
            mb = resident_mb(pid)
            if mb is not None:
                self.workers_seen.add(pid)
                self.peak_worker_mb = max(self.peak_worker_mb, mb)
            pss = proportional_mb(pid)
            if pss is not None:
                self.peak_worker_pss_mb = max(self.peak_worker_pss_mb, pss)

    def stop(self) -> None:
        """Stop gunicorn (SIGTERM, then SIGKILL after 20 s)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_gunicorn(
    name: str, app: str | None, *, port: int, env: dict[str, str], log: Path
) -> Server:
    """``gunicorn -c deploy/gunicorn.conf.py [app]`` on loopback ``port``; ``app`` None: issuer."""
    command = [sys.executable, *SERVER_ARGUMENTS, str(GUNICORN_CONF)]
    if app is not None:
        command.append(app)
    with log.open("wb") as sink:
        process = subprocess.Popen(  # noqa: S603 - our own arguments
            command,
            cwd=REPO,
            env={**env, "AGEVERIFY_BIND": f"127.0.0.1:{port}"},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return Server(name, f"http://127.0.0.1:{port}", process, log)


def get(url: str) -> tuple[int, bytes]:
    """GET ``url``: status and answer."""
    return _fetch(urllib.request.Request(url))  # noqa: S310 - loopback URLs built here


def post(url: str, body: bytes) -> tuple[int, bytes]:
    """POST JSON ``body`` to ``url``: status and answer."""
    return _fetch(
        urllib.request.Request(  # noqa: S310 - loopback URLs built here
            url, data=body, headers={"Content-Type": "application/json"}
        )
    )


def _fetch(request: urllib.request.Request) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_until(server: Server, ready: Callable[[], bool], seconds: float = 60) -> None:
    """Wait until ``ready()`` holds; the server's log in the error if it exits or times out."""
    deadline = time.monotonic() + seconds
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if ready():
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} not ready in {seconds} s:\n{server.log.read_text()}")
        time.sleep(0.2)


class MemorySampler:
    """Samples the workers' VmRSS of some servers every ``interval`` seconds, in a thread."""

    def __init__(self, servers: Sequence[Server], interval: float = 0.25) -> None:
        self._servers = servers
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            for server in self._servers:
                server.sample_memory()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for server in self._servers:
            server.sample_memory()


# --- the measurement -------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How long and how often to measure."""

    saturation_seconds: int
    rate_seconds: int
    rate_connections: int
    repeats: int
    connections: tuple[int, ...]
    threads: int
    batch: int


@dataclass
class Endpoint:
    """What was measured on one endpoint of one server."""

    saturated: list[float] = field(default_factory=list)
    best_connections: list[int] = field(default_factory=list)
    closed_p99: list[float] = field(default_factory=list)
    p50: list[float] = field(default_factory=list)
    p99: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """The median saturated rate."""
        return statistics.median(self.saturated)


@dataclass
class Measured:
    """The figures of one database backend: per server name, per endpoint."""

    backend: str
    endpoints: dict[tuple[str, str], Endpoint] = field(default_factory=dict)
    worker_mb: dict[str, float] = field(default_factory=dict)
    worker_pss_mb: dict[str, float] = field(default_factory=dict)
    workers: int = 0
    batch: int = BATCH

    def at(self, server: str, endpoint: str) -> Endpoint:
        """The figures of ``endpoint`` on ``server``."""
        return self.endpoints.setdefault((server, endpoint), Endpoint())


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _server_env(
    instance: Path, url: str, database_url: str | None, bytecode: Path
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGEVERIFY_")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    # Bytecode compiled once and loaded after, as in the image (which compiles
    # it when built): here into the run's folder, not next to the sources.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(bytecode)
    if "AGEVERIFY_WORKERS" in os.environ:
        env["AGEVERIFY_WORKERS"] = os.environ["AGEVERIFY_WORKERS"]
    env.update(
        {
            "AGEVERIFY_ENV": "development",
            "AGEVERIFY_INSTANCE_PATH": str(instance),
            "AGEVERIFY_ISSUER_URL": url,
            # One loopback client sends all the load: a per-address limit would refuse it.
            "AGEVERIFY_RATE_LIMIT_ISSUANCE": "none",
            "AGEVERIFY_RATE_LIMIT_VERIFY": "none",
            # Production's log lines (JSON), not development's text ones.
            "AGEVERIFY_LOG_FORMAT": "json",
        }
    )
    if database_url:
        env["AGEVERIFY_DATABASE_URL"] = database_url
    return env


# What the servers import, so that its bytecode is written before they start.
_SERVER_IMPORTS = (
    "import encodings.idna, logging.config, logging.handlers, gunicorn.app.wsgiapp, "
    "gunicorn.arbiter, gunicorn.glogging, gunicorn.workers.sync, werkzeug.middleware.proxy_fix, "
    "ageverify.cli, ageverify.web.errors, benchmarks.ceiling; "
    "from ageverify import create_app; create_app()"
)


def _python(arguments: list[str], env: dict[str, str], what: str) -> None:
    """Run Python with ``arguments`` in the repository; RuntimeError saying ``what`` failed."""
    done = subprocess.run(  # noqa: S603 - our own arguments
        [sys.executable, *arguments],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stdout}{done.stderr}")


def measure_backend(
    backend: str, folder: Path, plan: Plan, database_url: str | None = None
) -> Measured:
    """Start the issuer (on ``database_url``, else SQLite) and the ceiling; measure both."""
    from ageverify.demo import DemoVerifier, age_facts
    from ageverify.formats import jose
    from ageverify.sdk import Holder

    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    instance = folder / "instance"
    env = _server_env(instance, url, database_url, folder.parent / "bytecode")
    _python(["-c", "from ageverify.cli import main; main()", "init", "--dev"], env, "init --dev")
    # The servers' bytecode is written first, as the image is built with it:
    # workers that compiled their modules themselves would keep the
    # compiler's leftovers in their memory for the whole run.
    _python([SERVER_ARGUMENTS[0], "-c", _SERVER_IMPORTS], env, "compiling the servers' bytecode")

    servers: list[Server] = []
    try:
        issuer = start_gunicorn("issuer", None, port=port, env=env, log=folder / "issuer.log")
        servers.append(issuer)
        wait_until(issuer, lambda: get(url + "/healthz")[0] == 200)
        thresholds = json.loads(get(url + "/.well-known/age-verification")[1])["thresholds"]
        issuer_jwks = json.loads(get(url + "/.well-known/jwks.json")[1])["keys"]

        demo = DemoVerifier.load_or_create(instance)
        facts = age_facts(30, thresholds)

        def attest() -> str:
            return demo.attest(issuer=url, age_over=facts, lifetime=600)

        holder = Holder()
        holder.request_credentials(url, attest(), count=1)
        # The ceiling checks with the key that signed this credential.
        header = holder.present(AUDIENCE, NONCE, min_age=18).split(".")[0]
        credential_kid = json.loads(jose.b64url_decode(header))["kid"]
        keys = folder / "ceiling-keys.json"
        keys.write_text(
            json.dumps(
                {
                    "issuer": next(k for k in issuer_jwks if k.get("kid") == credential_kid),
                    "verifier": demo.public_jwk,
                }
            )
        )
        ceiling = start_gunicorn(
            "ceiling",
            f"benchmarks.ceiling:create_app({str(keys)!r})",
            port=free_port(),
            env=env,
            log=folder / "ceiling.log",
        )
        servers.append(ceiling)

        pair = _Pair(folder, plan, servers, holder, attest, holder_key_pool(BATCH * 4))
        probe = pair.verify_file().read_bytes().strip()
        for server in servers:
            verify_url = server.url + VERIFY_PATH
            wait_until(server, lambda: post(verify_url, probe)[0] == 200)  # noqa: B023 - called now
            status, answer = post(verify_url, probe)
            if status != 200 or not json.loads(answer)["verified"]:
                raise RuntimeError(f"{server.name} refused the presentation: {answer[:300]!r}")

        measured = Measured(backend, workers=len(worker_pids(issuer.process.pid)), batch=plan.batch)
        with MemorySampler(servers):
            # Warm both: imports, keys, connections; the sampler sees the workers.
            for server in servers:
                run_wrk(
                    server.url + VERIFY_PATH,
                    pair.verify_file(),
                    connections=plan.connections[0],
                    threads=plan.threads,
                    seconds=1,
                )
            for repeat in range(plan.repeats):
                _log(f"{backend}: saturation, round {repeat + 1} of {plan.repeats}")
                _saturation_round(pair, measured)
            for repeat in range(plan.repeats):
                _log(f"{backend}: {LOAD_FRACTION:.0%} of saturation, round {repeat + 1}")
                _steady_round(pair, measured)
        for server in servers:
            measured.worker_mb[server.name] = server.peak_worker_mb
            measured.worker_pss_mb[server.name] = server.peak_worker_pss_mb
        return measured
    finally:
        for server in servers:
            server.stop()


@dataclass
class _Pair:
    """The issuer and the ceiling, running, and what makes request bodies for them."""

    folder: Path
    plan: Plan
    servers: list[Server]
    holder: Holder
    attest: Callable[[], str]
    pool: list[dict[str, str]]
    # Issuance answers per second expected of each server, raised as faster
    # rates are seen: a run must not run out of single-use attestations.
    expected_rate: dict[str, float] = field(
        default_factory=lambda: {"issuer": 400.0, "ceiling": 1500.0}
    )

    def verify_file(self) -> Path:
        """A file of one verify body with a new Key Binding JWT (valid for 300 s)."""
        body = verify_body(self.holder.present(AUDIENCE, NONCE, min_age=18))
        return write_bodies(self.folder / "verify.jsonl", [body])

    def issuance_bodies(self, count: int) -> list[bytes]:
        """``count`` issuance bodies, each with a fresh attestation."""
        return issuance_bodies(self.attest, self.pool, count, batch=self.plan.batch)


def _saturation_round(pair: _Pair, measured: Measured) -> None:
    """For each endpoint and server, the best wrk throughput over the connection counts."""
    plan = pair.plan
    for endpoint in ("verify", "issue"):
        for server in pair.servers:
            figures = measured.at(server.name, endpoint)
            best: tuple[WrkResult, int] | None = None
            for connections in plan.connections:
                bodies: list[bytes] = []
                if endpoint == "verify":
                    path, target = pair.verify_file(), VERIFY_PATH
                else:
                    count = int(pair.expected_rate[server.name] * plan.saturation_seconds * 1.5)
                    bodies = pair.issuance_bodies(count + 200)
                    path = write_bodies(pair.folder / f"issue-{server.name}.jsonl", bodies)
                    target = ISSUE_PATH
                result = run_wrk(
                    server.url + target,
                    path,
                    connections=connections,
                    threads=plan.threads,
                    seconds=plan.saturation_seconds,
                )
                if bodies:
                    rate = max(pair.expected_rate[server.name], result.rate)
                    pair.expected_rate[server.name] = rate
                    if result.requests > len(bodies):
                        figures.problems.append(
                            f"{result.requests} requests for {len(bodies)} bodies"
                        )
                if result.non_2xx or result.socket_errors:
                    figures.problems.append(
                        f"{result.non_2xx} non-2xx answers and {result.socket_errors} "
                        f"socket errors at {connections} connections"
                    )
                if best is None or result.rate > best[0].rate:
                    best = (result, connections)
            assert best is not None
            figures.saturated.append(best[0].rate)
            figures.best_connections.append(best[1])
            figures.closed_p99.append(best[0].p99)


def _steady_round(pair: _Pair, measured: Measured) -> None:
    """For each endpoint and server, latencies at 70% of its median saturated rate."""
    plan = pair.plan
    for endpoint in ("verify", "issue"):
        for server in pair.servers:
            figures = measured.at(server.name, endpoint)
            rate = LOAD_FRACTION * figures.rate
            if endpoint == "verify":
                bodies = [pair.verify_file().read_bytes().strip()]
                target = VERIFY_PATH
            else:
                # Enough for every thread's share of the run.
                count = int(rate * plan.rate_seconds * 1.2) + 2 * plan.rate_connections
                bodies = pair.issuance_bodies(count)
                target = ISSUE_PATH
            prefix = write_thread_bodies(
                pair.folder / f"rate-{endpoint}-{server.name}.jsonl",
                bodies,
                plan.rate_connections,
            )
            result = run_constant_rate(
                server.url + target,
                prefix,
                rate=rate,
                seconds=plan.rate_seconds,
                connections=plan.rate_connections,
            )
            if result.failures or result.behind > 0.02 * result.sent:
                figures.problems.append(
                    f"at {rate:.0f} req/s: {result.failures} failed of "
                    f"{result.sent} sent, {result.behind} never sent (late)"
                )
            figures.p50.append(result.percentile(0.50))
            figures.p99.append(result.percentile(0.99))


# --- the report ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of the report: measured against the ceiling, and the target if any.

    ``kind`` says how the target reads: ``"ratio>="`` (measured / ceiling at
    least ``target``), ``"<="`` (measured at most ``target`` in the row's
    unit), or ``None`` (reported only).
    """

    figure: str
    unit: str
    measured: float
    ceiling: float
    kind: str | None = None
    target: float = 0.0
    problem: bool = False

    @property
    def ratio(self) -> float:
        """measured / ceiling."""
        return self.measured / self.ceiling if self.ceiling else math.nan

    def verdict(self) -> tuple[str, str]:
        """The target as written, and ``ok``, ``MISS``, or ``ERR`` when a run failed requests."""
        if self.kind is None:
            bound, ok = "-", None
        elif self.kind == "ratio>=":
            bound, ok = f">={self.target:.2f}x", self.ratio >= self.target
        else:
            bound, ok = f"<={self.target:g}{self.unit}", self.measured <= self.target
        if self.problem:
            return bound, "ERR"
        return bound, "" if ok is None else ("ok" if ok else "MISS")


def rows_for(measured: Measured) -> list[Row]:
    """The report's rows for one backend."""
    b = measured.backend

    def figures(endpoint: str) -> tuple[Endpoint, Endpoint]:
        return measured.at("issuer", endpoint), measured.at("ceiling", endpoint)

    def med(values: list[float], scale: float = 1.0) -> float:
        return statistics.median(values) * scale

    verify, verify_ceiling = figures("verify")
    issue, issue_ceiling = figures("issue")
    return [
        Row(
            f"{b}: verify throughput at saturation",
            "/s",
            verify.rate,
            verify_ceiling.rate,
            "ratio>=",
            VERIFY_THROUGHPUT_TARGET,
            bool(verify.problems),
        ),
        Row(
            f"{b}: verify p50 at 70% of saturation",
            "ms",
            med(verify.p50, 1e3),
            med(verify_ceiling.p50, 1e3),
        ),
        Row(
            f"{b}: verify p99 at 70% of saturation",
            "ms",
            med(verify.p99, 1e3),
            med(verify_ceiling.p99, 1e3),
            "<=",
            VERIFY_P99_TARGET_MS,
            bool(verify.problems),
        ),
        Row(
            f"{b}: issuance throughput (batch of {measured.batch})",
            "/s",
            issue.rate,
            issue_ceiling.rate,
            "ratio>=",
            ISSUANCE_THROUGHPUT_TARGET,
            bool(issue.problems),
        ),
        Row(
            f"{b}: issuance p50 at 70% of saturation",
            "ms",
            med(issue.p50, 1e3),
            med(issue_ceiling.p50, 1e3),
        ),
        Row(
            f"{b}: issuance p99 at 70% of saturation",
            "ms",
            med(issue.p99, 1e3),
            med(issue_ceiling.p99, 1e3),
        ),
        Row(
            f"{b}: resident memory per worker (max VmRSS)",
            "MB",
            measured.worker_mb["issuer"],
            measured.worker_mb["ceiling"],
            "<=",
            WORKER_RSS_TARGET_MB,
        ),
    ]


def report(rows: Sequence[Row], notes: Sequence[str] = ()) -> str:
    """The rows as a table (measured, ceiling, ratio, target, verdict), then ``notes``."""
    lines = [f"{'figure':<52} {'measured':>10} {'ceiling':>10} {'ratio':>6} {'target':>9} verdict"]
    for row in rows:
        bound, verdict = row.verdict()
        lines.append(
            f"{row.figure:<52} {_amount(row.measured, row.unit):>10} "
            f"{_amount(row.ceiling, row.unit):>10} {_ratio(row.ratio):>6} {bound:>9} {verdict}"
        )
    return "\n".join([*lines, *notes])


def _ratio(value: float) -> str:
    # Rounded down: 0.5996 against a target of 0.60 must not read 0.600.
    return "nan" if math.isnan(value) else f"{math.floor(value * 1000) / 1000:.3f}"


def _amount(value: float, unit: str) -> str:
    return f"{value:.0f}{unit}" if unit == "/s" else f"{value:.1f}{unit}"


def details(measured: Measured) -> list[str]:
    """Notes on one backend: saturation connections, closed-loop p99, each run's figures."""
    lines = []
    for (server, endpoint), figures in sorted(measured.endpoints.items()):
        runs = ", ".join(f"{r:.0f}" for r in figures.saturated)
        p99s = ", ".join(f"{p * 1e3:.1f}" for p in figures.p99)
        lines.append(
            f"  {measured.backend} {server} {endpoint}: saturated req/s per round [{runs}] "
            f"(best at {figures.best_connections} connections, closed-loop p99 "
            f"{statistics.median(figures.closed_p99) * 1e3:.0f} ms); p99 ms at 70% [{p99s}]"
        )
        lines.extend(f"    problem: {problem}" for problem in figures.problems)
    if measured.worker_pss_mb:
        pss = measured.worker_pss_mb
        lines.append(
            f"  {measured.backend} max worker Pss (shared pages divided among sharers): "
            f"issuer {pss.get('issuer', math.nan):.1f} MB, "
            f"ceiling {pss.get('ceiling', math.nan):.1f} MB"
        )
    return lines


# --- the command ------------------------------------------------------------------


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A throwaway PostgreSQL database (tests/pg.py's server): its URL."""
    from tests.pg import PostgresServer

    server = PostgresServer.start()
    try:
        yield server.create_database()
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print the report; 0 when it ran (whatever the verdicts), 2 without wrk."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (one round)")
    parser.add_argument("--duration", type=int, help="seconds of each wrk run [5; quick 1]")
    parser.add_argument(
        "--rate-duration", type=int, help="seconds of each run at 70%% of saturation [8; quick 2]"
    )
    parser.add_argument("--repeats", type=int, help="rounds, figures are medians [3; quick 1]")
    parser.add_argument("--batch", type=int, default=BATCH, help="holder keys per issuance")
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql",
        help="comma-separated: sqlite, postgresql [both]",
    )
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk); no load benchmark.")
        return 2

    from ageverify.cli import server_options

    options = server_options()
    workers = int(options["workers"])
    plan = Plan(
        saturation_seconds=args.duration or (1 if args.quick else 5),
        rate_seconds=args.rate_duration or (2 if args.quick else 8),
        rate_connections=4 * workers,
        repeats=args.repeats or (1 if args.quick else 3),
        connections=(2 * workers,) if args.quick else (2 * workers, 4 * workers),
        threads=min(2, os.cpu_count() or 1),
        batch=args.batch,
    )
    rows: list[Row] = []
    notes = [
        f"gunicorn: {workers} {options['worker_class']} workers (deploy/gunicorn.conf.py) on "
        f"{os.cpu_count()} CPUs, for the issuer and the ceiling alike; medians of "
        f"{plan.repeats} round(s); saturation: wrk, {plan.saturation_seconds} s at "
        f"{'/'.join(map(str, plan.connections))} connections; latency: wrk at a constant 70% of "
        f"saturation for {plan.rate_seconds} s over {plan.rate_connections} connections, "
        "from each request's scheduled send time; memory: max worker VmRSS, sampled 4/s. "
        "ERR: a run had failed or late requests (problems below)."
    ]
    backends = [name.strip().lower() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="ageverify-load-") as folder:
        for backend in backends:
            if backend == "sqlite":
                measured = measure_backend("SQLite", Path(folder) / "sqlite", plan)
            elif backend == "postgresql":
                try:
                    from tests.pg import PostgresUnavailable
                except ImportError as error:
                    notes.append(f"PostgreSQL: not measured ({error})")
                    continue
                try:
                    with postgres_database() as url:
                        measured = measure_backend(
                            "PostgreSQL", Path(folder) / "postgresql", plan, url
                        )
                except PostgresUnavailable as error:
                    notes.append(f"PostgreSQL: not measured ({error})")
                    continue
            rows.extend(rows_for(measured))
            notes.extend(details(measured))
    print(report(rows, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
