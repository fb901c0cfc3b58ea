"""A throwaway PostgreSQL server for the tests, started from the server binaries.

``PostgresServer.start()`` runs ``initdb`` in a new temporary folder and
starts ``postgres`` listening on a unix socket in that folder only (no TCP
port, so parallel runs never clash), with durability turned off for speed
(``start(durable=True)`` keeps PostgreSQL's defaults, for measuring commits).
``stop()`` stops it and deletes the folder.

PostgreSQL refuses to run as root. When the tests run as root (containers,
CI), the server runs as the system user ``ageverify-pg``, created with
``useradd --system`` if it does not exist, and the temporary folder is given
to that user; the tests, as root, still reach the socket.

The binaries (``initdb``, ``pg_ctl``, ``postgres``) are looked up on PATH,
then in the newest ``/usr/lib/postgresql/*/bin`` (Debian's layout).
Anything missing raises ``PostgresUnavailable`` saying what.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

# The system user the server runs as when the tests run as root.
SERVER_USER = "ageverify-pg"
# The superuser initdb creates; the socket trusts every local connection.
SUPERUSER = "ageverify"
_BINARIES = ("initdb", "pg_ctl", "postgres")
_SERVER_OPTIONS = "-c listen_addresses=''"
# Durability is worth nothing in a database deleted at the end of the run.
_NOT_DURABLE = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def find_bindir() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``."""
    on_path = [shutil.which(name) for name in _BINARIES]
    if all(on_path):
        return Path(on_path[1] or "").parent
    # Newest version first: "16" before "15", and before "9.6".
    debian = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda path: [
            int(part) for part in Path(path).parent.name.split(".") if part.isdigit()
        ],
        reverse=True,
    )
    for folder in debian:
        if all((Path(folder) / name).is_file() for name in _BINARIES):
            return Path(folder)
    raise PostgresUnavailable(
        "the PostgreSQL server binaries (initdb, pg_ctl, postgres) are neither on PATH "
        "nor in /usr/lib/postgresql/*/bin"
    )


def _server_user() -> str | None:
    """The user to run the server as: None for the current user, ``SERVER_USER`` for root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        useradd = shutil.which("useradd")
        if useradd is None:
            raise PostgresUnavailable(
                f"running as root, PostgreSQL needs the system user {SERVER_USER}, "
                "and useradd is not installed to create it"
            ) from None
        created = subprocess.run(  # noqa: S603 - a fixed binary and arguments
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SERVER_USER],
            capture_output=True,
            text=True,
            check=False,
        )
        if created.returncode != 0:
            raise PostgresUnavailable(
                f"running as root, PostgreSQL needs the system user {SERVER_USER}; "
                f"`useradd --system {SERVER_USER}` failed: {created.stderr.strip()}"
            ) from None
    return SERVER_USER


def _as_user(user: str | None) -> dict[str, Any]:
    """``subprocess.run`` arguments running a command as ``user`` (None: as ourselves)."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


class PostgresServer:
    """A running server in ``root`` (data in ``root/data``, socket in ``root``)."""

    def __init__(self, bindir: Path, root: Path, user: str | None, options: str) -> None:
        self.bindir = bindir
        self.root = root
        self.user = user
        self.options = options
        self.data = root / "data"
        self.logfile = root / "server.log"
        self._names = itertools.count(1)
        self._shared: str | None = None

    @classmethod
    def start(cls, *, durable: bool = False) -> PostgresServer:
        """Initialise and start a server in a new temporary folder.

        Not ``durable``, it neither syncs nor waits for its log at commit, and
        those settings cannot be changed while it runs (the command line's
        win); ``durable``, it starts with PostgreSQL's defaults, which
        ``ALTER SYSTEM`` and a reload can change. Raises
        ``PostgresUnavailable`` saying why when it cannot start.
        """
        bindir = find_bindir()
        user = _server_user()
        # Short and under /tmp: a socket path is limited to some 100 bytes.
        root = Path(tempfile.mkdtemp(prefix="ageverify-pg-", dir="/tmp"))
        if user is not None:
            shutil.chown(root, user=user)
        options = _SERVER_OPTIONS if durable else f"{_SERVER_OPTIONS} {_NOT_DURABLE}"
        server = cls(bindir, root, user, options)
        try:
            server._run(
                "initdb",
                "-D",
                str(server.data),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--no-sync",
                "--no-locale",
                "--encoding=UTF8",
            )
            server._run(
                "pg_ctl",
                "start",
                "-w",
                "-t",
                "30",
                "-D",
                str(server.data),
                "-l",
                str(server.logfile),
                "-o",
                f"-k {root} {options}",
            )
        except PostgresUnavailable:
            # pg_ctl may give up waiting on a server that starts after all.
            subprocess.run(  # noqa: S603 - the server binary, arguments of ours
                [str(bindir / "pg_ctl"), "stop", "-m", "immediate", "-D", str(server.data)],
                capture_output=True,
                check=False,
                **_as_user(user),
            )
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def _run(self, binary: str, *arguments: str) -> None:
        command = [str(self.bindir / binary), *arguments]
        result = subprocess.run(  # noqa: S603 - the server binaries, arguments of ours
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd=self.root,
            **_as_user(self.user),
        )
        if result.returncode != 0:
            log = self.logfile.read_text() if self.logfile.exists() else ""
            raise PostgresUnavailable(
                f"{binary} failed ({result.returncode}): {result.stderr.strip()} {log.strip()}"
            )

    def halt(self) -> None:
        """Stop the server at once, as a crash would (its data stays for :meth:`resume`)."""
        self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data))

    def resume(self) -> None:
        """Start the server again on the same data after :meth:`halt`."""
        self._run(
            "pg_ctl",
            "start",
            "-w",
            "-t",
            "30",
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-o",
            f"-k {self.root} {self.options}",
        )

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` on this server (psycopg 3, over the socket)."""
        return f"postgresql+psycopg://{SUPERUSER}@/{database}?host={self.root}"

    def create_database(self) -> str:
        """Create a new, empty database and return its URL."""
        return self.url(self._new_database())

    def _new_database(self) -> str:
        import psycopg
        from psycopg import sql

        name = f"test_{next(self._names)}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        with psycopg.connect(
            host=str(self.root), dbname="postgres", user=SUPERUSER, autocommit=True
        ) as admin:
            if admin.info.server_version >= 150000:
                # Copying the files beats logging every page when nothing is synced.
                statement += sql.SQL(" STRATEGY FILE_COPY")
            admin.execute(statement)
        return name

    def create_schema(self) -> str:
        """Create a new, empty schema and return a URL on which it is the only one searched.

        Much cheaper than a database (a database copies some megabytes of
        catalog), and as empty: unqualified names, Alembic's version table
        included, are created in and looked up from that schema alone. The
        schemas share one database, whose advisory locks are the same for all;
        the tests run one at a time.
        """
        import psycopg
        from psycopg import sql

        if self._shared is None:
            self._shared = self._new_database()
        name = f"test_{next(self._names)}"
        with psycopg.connect(
            host=str(self.root), dbname=self._shared, user=SUPERUSER, autocommit=True
        ) as admin:
            admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        return f"{self.url(self._shared)}&options={quote(f'-c search_path={name}')}"

    def stop(self) -> None:
        """Stop the server at once and delete its folder."""
        try:
            self._run("pg_ctl", "stop", "-m", "immediate", "-w", "-D", str(self.data))
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
