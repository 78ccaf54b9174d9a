"""The services a Celery deployment of the lab runs beside Airflow: PostgreSQL and Redis, private.

Made of Debian's `postgresql` and `redis-server` (apt-installed when missing, as root):
a new database cluster and a new Redis server in a temporary directory, on free ports of
127.0.0.1, with generated passwords, and `stop()` ends every process they started. Nothing
here touches a system service. `lab.tools.celery_local` puts Airflow on top of them.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil

from lab.processes import alive_pids, free_port, stop_all

DEFAULT_USER = "airflow"  # the documented local-only default login, as in Airflow's own compose file
# The Debian packages the Celery test needs and the programs that tell whether they are installed.
DEBIAN_PACKAGES = {"redis-server": "redis-server", "postgresql": "pg_ctl"}


class CeleryLabError(RuntimeError):
    """The Celery deployment could not be installed, started or stopped cleanly; the message says why."""


@dataclass(frozen=True)
class PostgresAddress:
    host: str
    port: int
    user: str
    password: str
    db: str

    def sqlalchemy_url(self) -> str:
        """[database] sql_alchemy_conn: Airflow's metadata database."""
        return f"postgresql+psycopg2://{self._userinfo()}@{self.host}:{self.port}/{self.db}"

    def result_backend_url(self) -> str:
        """[celery] result_backend: Celery keeps task states in the same database (its own tables).

        The driver is named: a bare `postgresql://` means psycopg 3 to newer SQLAlchemy.
        """
        return f"db+postgresql+psycopg2://{self._userinfo()}@{self.host}:{self.port}/{self.db}"

    def _userinfo(self) -> str:
        return f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"


@dataclass(frozen=True)
class RedisAddress:
    host: str
    port: int
    password: str
    db: int = 0

    def broker_url(self) -> str:
        """[celery] broker_url: the queue the scheduler sends task instances to and workers take them from."""
        return f"redis://:{quote(self.password, safe='')}@{self.host}:{self.port}/{self.db}"


# ---------------------------------------------------------------- installing and finding programs


def missing_packages() -> list[str]:
    return [pkg for pkg, program in DEBIAN_PACKAGES.items() if _program(program) is None]


def ensure_debian_packages(say=print) -> None:
    """apt-get install redis-server and postgresql when a program of theirs is missing (root only)."""
    missing = missing_packages()
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise CeleryLabError(
            f"missing {', '.join(missing)}: install them (Debian/Ubuntu: sudo apt-get install {' '.join(missing)})"
        )
    say(f"Installing {', '.join(missing)} from Debian's packages ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise CeleryLabError(f"`{' '.join(cmd)}` failed:\n{(done.stdout + done.stderr)[-3000:]}")
    still = missing_packages()
    if still:
        raise CeleryLabError(f"installed {missing}, but still cannot find the programs of {still}")


def _program(name: str) -> str | None:
    """A program on PATH, or a PostgreSQL server program where Debian keeps it (off PATH)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_pg_major, reverse=True)
    return candidates[0] if candidates else None


def _pg_major(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


# ---------------------------------------------------------------- PostgreSQL


@dataclass
class PrivatePostgres:
    """A new PostgreSQL cluster in its own directory, on 127.0.0.1:<port> only, fsync off (throw-away).

    PostgreSQL refuses to run as root: as root, the cluster belongs to and runs as the
    `postgres` system user (created by Debian's package).
    """

    port: int = field(default_factory=free_port)
    user: str = DEFAULT_USER
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    db: str = "airflow"
    base: Path | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def address(self) -> PostgresAddress:
        return PostgresAddress("127.0.0.1", self.port, self.user, self.password, self.db)

    @property
    def datadir(self) -> Path:
        assert self.base is not None, "not started"
        return self.base / "data"

    def _as_owner(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _run(self, argv: list[str], what: str, timeout: float = 120) -> str:
        done = subprocess.run(
            self._as_owner(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(self.base),
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            log = self.base / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise CeleryLabError(f"PostgreSQL {what} failed: {done.stdout}{done.stderr}\n{tail}")
        return done.stdout

    def start(self) -> PostgresAddress:
        for name in ("initdb", "pg_ctl"):
            if _program(name) is None:
                raise CeleryLabError(f"PostgreSQL's {name} not found: install Debian's postgresql package")
        if not self.user.isidentifier() or not self.db.isidentifier():
            raise CeleryLabError(
                f"user and database must be plain identifiers, got {self.user!r}, {self.db!r}"
            )
        # In /tmp, not under pytest's private temp dir: the postgres user must be able to enter it.
        self.base = Path(tempfile.mkdtemp(prefix="lab-celery-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.base, "postgres", "postgres")
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run(
            [
                _program("initdb"),
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        pwfile.unlink()
        options = " ".join(
            [
                f"-p {self.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={self.base}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=200",
            ]
        )
        self._run(
            [
                _program("pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.base / "postgres.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            "start",
        )
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        self.pids = [postmaster]
        import psycopg2

        con = psycopg2.connect(
            host="127.0.0.1", port=self.port, user=self.user, password=self.password, dbname="postgres"
        )
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{self.db}" OWNER "{self.user}"')  # identifiers checked above
        finally:
            con.close()
        return self.address

    def processes(self) -> list[psutil.Process]:
        """The postmaster and its children (checkpointer, walwriter, one per connection ...)."""
        procs = alive_pids(self.pids)
        for proc in list(procs):
            try:
                procs.extend(proc.children(recursive=True))
            except psutil.Error:
                continue
        return procs

    def stop(self) -> None:
        if self.base is None:
            return
        procs = self.processes()
        if (self.datadir / "postmaster.pid").exists():
            subprocess.run(
                self._as_owner(
                    [_program("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "-t", "30", "stop"]
                ),
                capture_output=True,
                cwd=str(self.base),
                stdin=subprocess.DEVNULL,
            )
        stop_all(procs)
        shutil.rmtree(self.base, ignore_errors=True)


# ---------------------------------------------------------------- Redis


@dataclass
class PrivateRedis:
    """A new redis-server on 127.0.0.1:<port> with a password, no persistence, stopped by `stop()`."""

    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    base: Path | None = None
    proc: subprocess.Popen | None = None

    @property
    def address(self) -> RedisAddress:
        return RedisAddress("127.0.0.1", self.port, self.password)

    def start(self, timeout: float = 30.0) -> RedisAddress:
        server = _program("redis-server")
        if server is None:
            raise CeleryLabError("redis-server not found: install Debian's redis-server package")
        self.base = Path(tempfile.mkdtemp(prefix="lab-celery-redis-"))
        conf = self.base / "redis.conf"
        conf.write_text(  # a file, so that the password never shows in `ps`
            f"bind 127.0.0.1\nport {self.port}\nprotected-mode yes\nrequirepass {self.password}\n"
            f'save ""\nappendonly no\ndir {self.base}\nlogfile {self.base / "redis.log"}\ndaemonize no\n'
        )
        conf.chmod(0o600)
        self.proc = subprocess.Popen(
            [server, str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import redis

        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise CeleryLabError(f"redis-server exited with {self.proc.returncode}: {self._log()}")
            try:
                if redis.Redis(
                    host="127.0.0.1", port=self.port, password=self.password, socket_timeout=1
                ).ping():
                    return self.address
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise CeleryLabError(f"redis-server did not answer within {timeout:.0f} s: {self._log()}")
            time.sleep(0.2)

    def _log(self) -> str:
        log = self.base / "redis.log" if self.base else None
        return log.read_text(errors="replace")[-2000:] if log and log.exists() else "(no log)"

    def processes(self) -> list[psutil.Process]:
        return alive_pids([self.proc.pid]) if self.proc else []

    def stop(self) -> None:
        if self.proc is not None:
            stop_all(self.processes())
            self.proc.wait(timeout=10)
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)
