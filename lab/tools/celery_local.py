"""Airflow on CeleryExecutor without Docker: private PostgreSQL and Redis on loopback, several workers.

The same deployment as `docker-compose.yml` (api-server, scheduler, dag-processor, Celery
workers, a PostgreSQL metadata database, a Redis broker), made of Debian's `postgresql` and
`redis-server` and the lab's own launcher (`lab.airflow_local`), so that the distributed path
is tested on machines without a Docker engine:

    python -m lab.tools.celery_local    # start it all in the foreground, Ctrl-C stops every process

`DEPLOYMENT_ENV`, `PostgresAddress` and `RedisAddress` are the settings both deployments share:
the Celery test starts Airflow with them and the compose test checks that `docker-compose.yml`
sets the same ones. Airflow runs with the simple auth manager and a real user (no all-admins
mode), so clients log in with a username and password, as they must against the compose file.

Nothing here touches a system service: the database cluster and the Redis server are new ones
in a temporary directory, on free ports of 127.0.0.1, and `stop()` ends every process they and
Airflow started.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psutil

from lab import airflow_local
from lab.config import Settings, settings
from lab.processes import AUTH_MANAGER, alive_pids, free_port, stop_all

EXECUTOR = "CeleryExecutor"
ADMIN_ROLE = "admin"
DEFAULT_USER = "airflow"  # the documented local-only default login, as in Airflow's own compose file
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"
# The Debian packages the Celery test needs and the programs that tell whether they are installed.
DEBIAN_PACKAGES = {"redis-server": "redis-server", "postgresql": "pg_ctl"}

# What every process of a Celery deployment of the lab shares, here and in docker-compose.yml
# (the compose test compares). Connection URLs come from the two address classes below.
DEPLOYMENT_ENV = {
    "AIRFLOW__CORE__EXECUTOR": EXECUTOR,
    "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    # Each worker takes 2 tasks at a time: with 2 cores per machine more only queue on the CPU,
    # and a mapped task of 4+ instances has to spread over both workers.
    "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
}


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


def connection_env(pg: PostgresAddress, redis: RedisAddress) -> dict[str, str]:
    return {
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.sqlalchemy_url(),
        "AIRFLOW__CELERY__RESULT_BACKEND": pg.result_backend_url(),
        "AIRFLOW__CELERY__BROKER_URL": redis.broker_url(),
    }


def users_setting(username: str) -> str:
    """[core] simple_auth_manager_users: one admin user."""
    return f"{username}:{ADMIN_ROLE}"


def worker_hostname() -> str:
    """[core] hostname_callable of the workers started here: '<worker>@<host>', like Celery's node name.

    Airflow records the hostname of the machine that ran each task instance. In compose every
    worker is a container with its own hostname; here all workers share one machine, so each
    gets its own name through LAB_CELERY_WORKER, set in that worker's environment only.
    """
    host = socket.gethostname()
    worker = os.environ.get("LAB_CELERY_WORKER")
    return f"{worker}@{host}" if worker else host


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


# ---------------------------------------------------------------- the deployment


@dataclass
class CeleryLab:
    """PostgreSQL + Redis + Airflow (api-server, scheduler, dag-processor) + N Celery workers.

    `cfg` says where the Airflow home, the lake and the API port are (use a private one: the
    participant's LocalExecutor Airflow in .airflow/ is never touched).
    """

    cfg: Settings
    workers: int = 2
    username: str = DEFAULT_USER
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    postgres: PrivatePostgres = field(default_factory=PrivatePostgres)
    redis: PrivateRedis = field(default_factory=PrivateRedis)
    instance: airflow_local.Instance | None = None

    @property
    def worker_names(self) -> list[str]:
        return [f"worker-{i}" for i in range(1, self.workers + 1)]

    @property
    def worker_hostnames(self) -> set[str]:
        """The hostnames Airflow records for task instances each worker ran."""
        host = socket.gethostname()
        return {f"{name}@{host}" for name in self.worker_names}

    @property
    def client_settings(self) -> Settings:
        """Settings a client of this deployment logs in with (URL + username/password)."""
        return dataclasses.replace(self.cfg, username=self.username, password=self.password, token=None)

    def client(self):
        from lab.client import Airflow

        return Airflow(cfg=self.client_settings)

    def airflow_env(self) -> dict[str, str]:
        passwords = self.cfg.airflow_home / "simple_auth_manager_passwords.json"
        return {
            **DEPLOYMENT_ENV,
            **connection_env(self.postgres.address, self.redis.address),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users_setting(self.username),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__PARALLELISM": str(self.cfg.parallelism),
            # Inherited from a pytest session, it would load Airflow's unit-test config.
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        }

    def components(self) -> dict[str, list[str]]:
        comps = {"api-server": ["api-server"], "scheduler": ["scheduler"], "dag-processor": ["dag-processor"]}
        for name in self.worker_names:
            # --skip-serve-logs: the workers share this machine's log folder with the api-server,
            # and two log servers on one host would fight over port 8793.
            comps[name] = ["celery", "worker", "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
        return comps

    def start(self, timeout: float = 300.0, say=None) -> CeleryLab:
        say = say or (lambda msg: print(msg, file=sys.stderr, flush=True))
        if "LAB_AIRFLOW_URL" in os.environ:
            raise CeleryLabError("LAB_AIRFLOW_URL is set: unset it, this starts its own Airflow")
        try:
            ensure_debian_packages(say)
            say(
                f"Starting PostgreSQL on 127.0.0.1:{self.postgres.port} and Redis on 127.0.0.1:{self.redis.port} ..."
            )
            self.postgres.start()
            self.redis.start()
            self.cfg.airflow_home.mkdir(parents=True, exist_ok=True)
            passwords = self.cfg.airflow_home / "simple_auth_manager_passwords.json"
            passwords.write_text(json.dumps({self.username: self.password}) + "\n")
            passwords.chmod(0o600)
            worker_env = {
                name: {
                    "LAB_CELERY_WORKER": name,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "lab.tools.celery_local.worker_hostname",
                }
                for name in self.worker_names
            }
            self.instance = airflow_local.up(
                self.cfg,
                components=self.components(),
                extra_env=self.airflow_env(),
                component_env=worker_env,
                timeout=timeout,
                quiet=False,
            )
            self.wait_for_workers(timeout=120)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_for_workers(self, timeout: float = 120.0) -> list[str]:
        """Wait until every worker answers a Celery ping through the broker; return their node names."""
        from celery import Celery

        app = Celery(broker=self.redis.address.broker_url())
        wanted = {f"{name}@{socket.gethostname()}" for name in self.worker_names}
        deadline = time.monotonic() + timeout
        try:
            while True:
                answered = {node for reply in app.control.ping(timeout=1.0) for node in reply}
                if wanted <= answered:
                    return sorted(answered)
                if time.monotonic() > deadline:
                    logs = "\n".join(
                        f"--- {n}:\n{airflow_local.tail(airflow_local.log_dir(self.cfg) / f'{n}.log', 15)}"
                        for n in self.worker_names
                    )
                    raise CeleryLabError(
                        f"workers {sorted(wanted - answered)} did not answer within {timeout:.0f} s\n{logs}"
                    )
                time.sleep(1)
        finally:
            app.close()

    def processes(self) -> list[psutil.Process]:
        """Every live process of this deployment: Airflow's, PostgreSQL's and Redis's."""
        return [
            *airflow_local.lab_processes(self.cfg.airflow_home),
            *self.postgres.processes(),
            *self.redis.processes(),
        ]

    def stop(self) -> None:
        """Stop Airflow first (workers finish or are killed), then Redis and PostgreSQL."""
        airflow_local.down(self.cfg, quiet=True)
        self.redis.stop()
        self.postgres.stop()


def main() -> int:
    """Run the Celery deployment in the foreground until Ctrl-C (or SIGTERM).

    It uses LAB_AIRFLOW_PORT and LAB_LAKE_DIR like `lab up`, but never the LocalExecutor's home:
    its Airflow home is LAB_AIRFLOW_HOME when set, else a temporary directory deleted afterwards.
    """
    cfg = settings()
    own_home = "LAB_AIRFLOW_HOME" not in os.environ
    if own_home:
        cfg = dataclasses.replace(cfg, airflow_home=Path(tempfile.mkdtemp(prefix="lab-celery-home-")))
    lab = CeleryLab(cfg)
    # Ctrl-C and `kill` both end in the `finally` below (a shell's `&` may have ignored SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        lab.start()
        print(f"Airflow on CeleryExecutor at {cfg.url} (log in as {lab.username} / {lab.password})")
        print(
            f"  LAB_AIRFLOW_URL={cfg.url} LAB_AIRFLOW_USERNAME={lab.username} LAB_AIRFLOW_PASSWORD={lab.password}"
        )
        print("Ctrl-C stops every process of it.", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        lab.stop()
        if own_home:
            shutil.rmtree(cfg.airflow_home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
