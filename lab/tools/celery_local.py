"""Airflow on CeleryExecutor without Docker: private PostgreSQL and Redis on loopback, several workers.

The same deployment as `docker-compose.yml` (api-server, scheduler, dag-processor, Celery
workers, a PostgreSQL metadata database, a Redis broker), made of Debian's `postgresql` and
`redis-server` (`lab.tools.celery_services`) and the lab's own launcher (`lab.airflow_local`),
so that the distributed path is tested on machines without a Docker engine:

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
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lab import airflow_local
from lab.config import Settings, settings
from lab.processes import AUTH_MANAGER
from lab.tools.celery_services import (
    DEFAULT_USER,
    CeleryLabError,
    PostgresAddress,
    PrivatePostgres,
    PrivateRedis,
    RedisAddress,
    ensure_debian_packages,
)

EXECUTOR = "CeleryExecutor"
ADMIN_ROLE = "admin"
CELERY_APP = "airflow.providers.celery.executors.celery_executor.app"

# What every process of a Celery deployment of the lab shares, here and in docker-compose.yml
# (the compose test compares). Connection URLs come from the services' address classes.
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
