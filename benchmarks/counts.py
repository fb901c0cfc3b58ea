"""Benchmark: concurrent issuances on PostgreSQL whose commits take time, counts sharded or not.

Run with ``python -m benchmarks.counts`` (``--quick`` for a smoke run, part
of ``make bench``); it starts its own PostgreSQL server (``tests/pg.py``),
and exits with 2 having measured nothing when it cannot.

Every issuance adds one to the aggregate count of each attested fact. With
one row per fact, concurrent issuances queue for that row's lock, each until
the commit of the one before returns; on a managed database, where a commit
waits for a standby in another zone, that wait is milliseconds, and it caps
the issuances of the whole deployment however many instances run. The
issuer therefore spreads each fact's count over ``COUNT_SHARDS`` rows.

``--processes`` issuers (forked processes, each with its own connection, as
the workers of several instances have) issue ``--count`` single-key batches through
``Issuer.issue_credentials``, in three settings of one run, alternating over
``--rounds``:

- the ceiling: the database commits at once (``fsync`` and
  ``synchronous_commit`` off), counts sharded;
- commits that take ``--commit-ms`` (``fsync`` on, ``commit_delay``: the
  server waits that long before every flush, holding the transaction's
  locks, as a synchronous standby makes it wait), counts sharded;
- the same slow commits with one row per fact (``count_shards=1``), as the
  counts were before they were sharded.

Figures are wall time per issuance (the run's time over its issuances),
medians over rounds, and their ratio to the ceiling's.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.timing import report

if TYPE_CHECKING:
    import psycopg

SETTINGS = {
    "instant": {"fsync": "off", "synchronous_commit": "off", "commit_delay": "0"},
    "slow": {"fsync": "on", "synchronous_commit": "on", "commit_siblings": "0"},
}


def _configure(admin: psycopg.Connection[Any], values: dict[str, str]) -> None:
    """ALTER SYSTEM each of ``values`` and have the server reload its configuration."""
    for name, value in values.items():
        admin.execute(f"ALTER SYSTEM SET {name} = '{value}'")  # type: ignore[arg-type]
    admin.execute("SELECT pg_reload_conf()")
    time.sleep(0.2)  # the backends take the new values at their next command


def _timed_run(
    issue: Callable[[str], object],
    attestations: list[str],
    processes: int,
    forked: Callable[[], None],
) -> float:
    """Seconds per issuance, ``attestations`` shared out over ``processes`` forked processes.

    Processes, not threads, as gunicorn's workers are: the signing of
    threads would take turns on one interpreter lock and hide the database.
    Each child calls ``forked()``, spends one attestation of its share to
    warm up (connect, read the registry and the keys), then, once all are
    ready, issues the rest; only that is timed.
    """
    context = multiprocessing.get_context("fork")
    start = context.Barrier(processes + 1)
    failures = context.Queue()

    def work(share: list[str]) -> None:
        forked()
        try:
            issue(share[0])
            start.wait()
            for token in share[1:]:
                issue(token)
        except Exception as error:  # noqa: BLE001 - reported by the parent
            failures.put(repr(error))
            start.abort()

    children = [
        context.Process(target=work, args=(attestations[index::processes],))
        for index in range(processes)
    ]
    for child in children:
        child.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a child failed: reported below
        start.wait()
    began = time.perf_counter()
    for child in children:
        child.join()
    elapsed = time.perf_counter() - began
    if not failures.empty():
        raise RuntimeError(f"an issuance failed: {failures.get()}")
    return elapsed / (len(attestations) - processes)


def main(argv: list[str] | None = None) -> int:
    """Measure and print the figures; 0 when it ran, 2 when no PostgreSQL server can start."""
    from tests.pg import PostgresUnavailable

    try:
        print(measure(argv))
    except PostgresUnavailable as missing:
        print(f"PostgreSQL cannot be started, nothing measured: {missing}", file=sys.stderr)
        return 2
    return 0


def measure(argv: list[str] | None = None) -> str:
    """The report of a run with the command line's ``argv``.

    Raises ``PostgresUnavailable`` when no server can be started.
    """
    parser = argparse.ArgumentParser(description=(__doc__ or "").partition("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--processes", type=int, default=16, help="concurrent issuers [16]")
    parser.add_argument("--count", type=int, help="issuances per run [1200; quick 200]")
    parser.add_argument("--rounds", type=int, help="rounds, figures are medians [3; quick 1]")
    parser.add_argument(
        "--commit-ms", type=float, default=2.0, help="how long a slow commit waits [2]"
    )
    args = parser.parse_args(argv)
    count = args.count or (200 if args.quick else 1200)
    rounds = args.rounds or (1 if args.quick else 3)

    import psycopg
    from sqlalchemy import func, select

    from ageverify import create_app
    from ageverify.config import write_dev_settings
    from ageverify.demo import DemoVerifier, age_facts, register_demo_verifier
    from ageverify.issuer.service import COUNT_SHARDS, Issuer
    from ageverify.sdk import Holder
    from ageverify.storage.models import IssuanceCount
    from tests.pg import SUPERUSER, PostgresServer

    slow = {**SETTINGS["slow"], "commit_delay": str(round(args.commit_ms * 1000))}
    server = PostgresServer.start(durable=True)
    try:
        url = server.create_database()
        with tempfile.TemporaryDirectory(prefix="ageverify-bench-") as folder:
            instance = Path(folder) / "instance"
            write_dev_settings(instance)
            app = create_app(
                {
                    "env": "development",
                    "instance_path": instance,
                    "database_url": url,
                    "log_level": "ERROR",
                }
            )
            state = app.extensions["ageverify"]
            settings = state.settings
            demo = DemoVerifier.load_or_create(instance)
            register_demo_verifier(state.sessions, demo, now=state.clock())
            facts = age_facts(30, settings.thresholds)
            keys = Holder().new_keys(1)

            def issuer(shards: int) -> Issuer:
                return Issuer(
                    settings, state.sessions, state.signing_keys, state.clock, count_shards=shards
                )

            runs = {
                "ceiling": ("instant", issuer(COUNT_SHARDS)),
                "sharded": ("slow", issuer(COUNT_SHARDS)),
                "one row": ("slow", issuer(1)),
            }
            times: dict[str, list[float]] = {name: [] for name in runs}
            with psycopg.connect(
                host=str(server.root), dbname="postgres", user=SUPERUSER, autocommit=True
            ) as admin:
                for index in range(rounds):
                    order = list(runs) if index % 2 == 0 else list(reversed(runs))
                    for name in order:
                        mode, chosen = runs[name]
                        _configure(admin, SETTINGS["instant"] if mode == "instant" else slow)
                        attestations = [
                            demo.attest(issuer=settings.issuer_url, age_over=facts)
                            for _ in range(count + args.processes)
                        ]

                        def issue(token: str, chosen: Issuer = chosen) -> object:
                            return chosen.issue_credentials(token, keys)

                        def forked() -> None:
                            # The pooled connections stay the parent's.
                            state.engine.dispose(close=False)

                        times[name].append(_timed_run(issue, attestations, args.processes, forked))
            for _, chosen in runs.values():
                chosen.close()
            # Every issuance counted once, whatever the shards and the waits.
            issued = rounds * len(runs) * (count + args.processes)
            with state.sessions() as session:
                counted = session.scalar(
                    select(func.sum(IssuanceCount.count)).where(
                        IssuanceCount.threshold == 18, IssuanceCount.over.is_(True)
                    )
                )
            state.close()
            if counted != issued:
                raise RuntimeError(f"{issued} issuances but {counted} counted")
    finally:
        server.stop()

    ceiling = times["ceiling"]
    rows = []
    for name, label in (
        ("sharded", f"{COUNT_SHARDS} shards per fact"),
        ("one row", "one row per fact"),
    ):
        ratios = [m / c for m, c in zip(times[name], ceiling, strict=True)]
        rows.append(
            (
                f"issuance, {label}, {args.commit_ms:g} ms commits",
                statistics.median(times[name]),
                statistics.median(ceiling),
                None,
                statistics.median(ratios),
            )
        )
    return (
        f"{args.processes} concurrent issuers, {count} issuances per run, {rounds} round(s); "
        f"floor: the same issuances with instant commits\n{report(rows)}"  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    sys.exit(main())
