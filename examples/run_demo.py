"""Start the whole demo: the issuer and its wallet, the demo verifier, two chat sites.

Run ``make demo`` (or ``python -m examples.run_demo``) and open the URLs it
prints: get an age attested at the demo verifier, let the wallet turn it into
credentials, then enter the rooms of "Demo chat A" and "Demo chat B". Ctrl-C
stops everything.

- issuer + wallet: gunicorn with ``deploy/gunicorn.conf.py`` on a development
  instance (``ageverify.config.write_dev_settings``) whose issuer URL is the
  port it serves on, with the demo verifier registered;
- the demo verifier (``examples.demo_verifier``), signing with the key in the
  issuer's instance folder;
- two chat platforms (``examples.chat``), each on its own port: two origins,
  so two audiences.

Tests import :func:`start_stack` to run the same services on free ports in a
temporary folder. Each service writes its output to ``<folder>/logs/<name>.log``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

REPO = Path(__file__).resolve().parent.parent
GUNICORN_CONF = REPO / "deploy" / "gunicorn.conf.py"
DEFAULT_FOLDER = REPO / "instance" / "demo"
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class Ports:
    """The port of each service."""

    issuer: int = 8000
    verifier: int = 8100
    chat_a: int = 8101
    chat_b: int = 8102

    @classmethod
    def free(cls) -> Ports:
        """Four ports the system reports free right now (for tests)."""
        return cls(*free_ports(4))


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free at the time of the call."""
    probes = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for probe in probes:
            probe.bind((HOST, 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@dataclass
class Service:
    """One running service: its command, its URL and where its output goes."""

    name: str
    url: str
    ready_path: str
    command: list[str]
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process, appending its output to ``log``."""
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argument list
                self.command,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                # Its own process group: Ctrl-C reaches the launcher only,
                # which then stops each service in order.
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until ``ready_path`` answers 200; raise ``RuntimeError`` with the log's end."""
        deadline = time.monotonic() + timeout
        url = self.url + self.ready_path
        while True:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited before answering:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return
            except OSError:  # refused, reset, or an HTTP error status
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer in {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.1)

    def terminate(self) -> None:
        """Ask the process to stop (SIGTERM: gunicorn finishes the requests under way)."""
        if self.running:
            assert self.process is not None  # noqa: S101 - running says so
            self.process.terminate()

    def wait_stopped(self) -> None:
        """Wait for the process to end, killing it after ``STOP_TIMEOUT`` seconds."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop the process and wait until it has ended."""
        self.terminate()
        self.wait_stopped()

    @property
    def running(self) -> bool:
        """True while the process lives."""
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the service's output."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class DemoStack:
    """The running demo: issuer, demo verifier, chat A and chat B."""

    folder: Path
    instance: Path
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def issuer(self) -> str:
        """The issuer's URL (the wallet is at ``{issuer}/wallet/``)."""
        return self.services["issuer"].url

    @property
    def verifier(self) -> str:
        """The demo verifier's URL."""
        return self.services["verifier"].url

    @property
    def chat_a(self) -> str:
        """Demo chat A's URL, which is also its audience."""
        return self.services["chat_a"].url

    @property
    def chat_b(self) -> str:
        """Demo chat B's URL, which is also its audience."""
        return self.services["chat_b"].url

    @property
    def issuer_logs(self) -> list[Path]:
        """Every file the issuer writes: its output (application log) and any access log."""
        return sorted((self.folder / "logs").glob("issuer*.log"))

    def stop_issuer(self) -> None:
        """Stop the issuer only (to show the wallet working without it)."""
        self.services["issuer"].stop()

    def start_issuer(self) -> None:
        """Start the issuer again after :meth:`stop_issuer` and wait until it answers."""
        issuer = self.services["issuer"]
        issuer.start()
        issuer.wait_ready()

    def stop(self) -> None:
        """Stop every service: all are asked at once, then waited for."""
        for service in self.services.values():
            service.terminate()
        for service in self.services.values():
            service.wait_stopped()


def check_free(ports: Ports) -> None:
    """Raise ``RuntimeError`` naming the first of ``ports`` something already listens on.

    Checked before starting: another server on a port would answer in place
    of the service meant to be there.
    """
    for port in (ports.issuer, ports.verifier, ports.chat_a, ports.chat_b):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex((HOST, port)) == 0:
                raise RuntimeError(f"port {port} is in use; choose another (see --help)")


def prepare_issuer(instance: Path, issuer_url: str) -> None:
    """Make ``instance`` a development instance for ``issuer_url``, demo verifier registered.

    Writes ``dev.json`` (kept if present), generates the keys the issuer
    lacks, and registers the demo verifier, all before gunicorn starts its
    workers: the workers then only read.
    """
    from ageverify import create_app
    from ageverify.config import write_dev_settings
    from ageverify.demo import DemoVerifier, register_demo_verifier

    write_dev_settings(instance)
    app = create_app(
        {
            "env": "development",
            "instance_path": instance,
            "issuer_url": issuer_url,
            "log_level": "ERROR",
        }
    )
    state = app.extensions["ageverify"]
    try:
        register_demo_verifier(
            state.sessions, DemoVerifier.load_or_create(instance), now=time.time()
        )
    finally:
        state.close()


def _environment(extra: dict[str, str]) -> dict[str, str]:
    # The launcher's own AGEVERIFY_* variables must not change what it starts.
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AGEVERIFY_")}
    return {**clean, "PYTHONUNBUFFERED": "1", **extra}


def start_stack(
    folder: Path | str = DEFAULT_FOLDER,
    ports: Ports | None = None,
    *,
    issuer_workers: int = 2,
    issuer_access_log: bool = False,
) -> DemoStack:
    """Start the issuer, the demo verifier and the two chat sites; return them running.

    ``folder`` holds the issuer's instance (``instance/``) and the services'
    output (``logs/``); ``ports`` default to 8000, 8100, 8101 and 8102.
    ``issuer_access_log`` turns on gunicorn's own access log as well
    (``logs/issuer-access.log``), which records request lines and referrers.
    If a service does not come up, those already started are stopped and
    ``RuntimeError`` says why.
    """
    folder = Path(folder).resolve()
    ports = ports or Ports()
    check_free(ports)
    logs = folder / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    instance = folder / "instance"
    issuer = f"http://{HOST}:{ports.issuer}"
    prepare_issuer(instance, issuer)

    python = sys.executable
    issuer_command = [python, "-m", "gunicorn", "-c", str(GUNICORN_CONF)]
    if issuer_access_log:
        issuer_command += ["--access-logfile", str(logs / "issuer-access.log")]
    issuer_env = _environment(
        {
            "AGEVERIFY_ENV": "development",
            "AGEVERIFY_INSTANCE_PATH": str(instance),
            "AGEVERIFY_ISSUER_URL": issuer,
            "AGEVERIFY_BIND": f"{HOST}:{ports.issuer}",
            "AGEVERIFY_WORKERS": str(issuer_workers),
        }
    )
    example_env = _environment({})
    stack = DemoStack(folder, instance)
    stack.services = {
        "issuer": Service(
            "issuer", issuer, "/healthz", issuer_command, issuer_env, logs / "issuer.log"
        ),
        "verifier": Service(
            "demo verifier",
            f"http://{HOST}:{ports.verifier}",
            "/",
            [python, "-m", "examples.demo_verifier", "--issuer", issuer]
            + ["--instance-path", str(instance), "--host", HOST, "--port", str(ports.verifier)],
            example_env,
            logs / "verifier.log",
        ),
    }
    for key, name, port in (
        ("chat_a", "Demo chat A", ports.chat_a),
        ("chat_b", "Demo chat B", ports.chat_b),
    ):
        stack.services[key] = Service(
            name,
            f"http://{HOST}:{port}",
            "/",
            [python, "-m", "examples.chat", "--name", name, "--issuer", issuer]
            + ["--host", HOST, "--port", str(port)],
            example_env,
            logs / f"{key.replace('_', '-')}.log",
        )
    try:
        for service in stack.services.values():
            service.start()
        for service in stack.services.values():
            service.wait_ready()
    except BaseException:
        stack.stop()
        raise
    return stack


def main(argv: list[str] | None = None) -> int:
    """Start the demo, print where each service is, and wait for Ctrl-C or SIGTERM."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER, help="instance and logs")
    parser.add_argument("--issuer-port", type=int, default=Ports.issuer)
    parser.add_argument("--verifier-port", type=int, default=Ports.verifier)
    parser.add_argument("--chat-a-port", type=int, default=Ports.chat_a)
    parser.add_argument("--chat-b-port", type=int, default=Ports.chat_b)
    options = parser.parse_args(argv)
    from ageverify.errors import ConfigurationError

    ports = Ports(
        options.issuer_port, options.verifier_port, options.chat_a_port, options.chat_b_port
    )

    def stop_on_signal(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_signal)
    print(f"Starting the demo (instance and logs in {options.folder}) ...", flush=True)
    try:
        stack = start_stack(options.folder, ports)
    except KeyboardInterrupt:
        return 130
    except (RuntimeError, OSError, ConfigurationError) as error:
        print(f"The demo could not start: {error}", file=sys.stderr)
        return 1
    try:
        print(f"issuer + wallet   {stack.issuer}  (wallet: {stack.issuer}/wallet/)")
        print(f"demo verifier     {stack.verifier}  (DEMO — not a real age check: start here)")
        print(f"Demo chat A       {stack.chat_a}")
        print(f"Demo chat B       {stack.chat_b}")
        print(
            "Ctrl-C stops everything. `make story` prints the same story step by step.", flush=True
        )
        while True:
            for service in stack.services.values():
                if not service.running:
                    print(f"{service.name} stopped:\n{service.tail()}", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
