"""docker-compose.yml, checked statically (no Docker engine here): it parses, runs what uv.lock pins,
matches the README, sets what `make test-celery` runs with, and publishes nothing beyond 127.0.0.1."""

from __future__ import annotations

import re
import tomllib

import pytest
import yaml

from lab.config import REPO_ROOT
from lab.tools.celery_local import (
    CELERY_APP,
    DEFAULT_USER,
    DEPLOYMENT_ENV,
    PostgresAddress,
    RedisAddress,
    connection_env,
    users_setting,
)
from tests.helpers import locked_versions, normalize

COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
REQUIREMENTS = REPO_ROOT / "docker" / "requirements.txt"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SERVICES = {
    "postgres",
    "redis",
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "jupyterlab",
}
AIRFLOW_SERVICES = {s for s in SERVICES if s.startswith("airflow-")}
# Compose's interpolation: ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}.
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(text: str) -> str:
    """A value as compose sees it with no .env and no variable set: every default applied; $$ is a $."""

    def default(match: re.Match) -> str:
        if match.group("op") in (":-", "-"):
            return match.group("arg")
        raise AssertionError(
            f"{match.group(0)} in docker-compose.yml has no default: it must work without .env"
        )

    return "$".join(VARIABLE.sub(default, part) for part in text.split("$$"))


def resolve(node):
    if isinstance(node, str):
        return interpolate(node)
    if isinstance(node, list):
        return [resolve(n) for n in node]
    if isinstance(node, dict):
        return {k: resolve(v) for k, v in node.items()}
    return node


@pytest.fixture(scope="module")
def raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # PyYAML resolves the anchors and `<<` merges


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    return resolve(raw)


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def locked_airflow() -> str:
    (version,) = locked_versions()["apache-airflow"]
    return version


def project_python() -> str:
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r"==(\d+\.\d+)\.\*", requires)
    assert match, f"requires-python {requires!r} is not one minor version"
    return match.group(1)


def readme_services() -> set[str]:
    text = (REPO_ROOT / "README.md").read_text()
    match = re.search(r"^## Running on several workers\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, "README.md has no '## Running on several workers' section"
    return set(re.findall(r"^\| `([a-z][a-z0-9-]*)` \|", match.group(1), re.M))


def test_the_services_of_airflows_compose_file_plus_jupyterlab(services):
    assert set(services) == SERVICES


def test_every_service_the_readme_names_exists_and_every_service_is_named(services):
    named = readme_services()
    assert named, "the README section lists no service in its table"
    assert named - set(services) == set(), "the README names services docker-compose.yml does not have"
    assert set(services) - named == set(), "docker-compose.yml has services the README does not describe"


def test_the_airflow_image_is_the_locked_version(raw, services):
    expected = f"apache/airflow:slim-{locked_airflow()}-python{project_python()}"
    for name in AIRFLOW_SERVICES | {"jupyterlab"}:
        build = services[name]["build"]
        assert build["dockerfile"] == "docker/Dockerfile"
        assert build["args"]["AIRFLOW_IMAGE"] == expected, name
        assert services[name]["image"] == f"dtm-lab-airflow:{locked_airflow()}", name
    default = re.search(r"^ARG AIRFLOW_IMAGE=(\S+)$", DOCKERFILE.read_text(), re.M)
    assert default and default.group(1) == expected
    assert re.search(r"^FROM \$\{AIRFLOW_IMAGE\}$", DOCKERFILE.read_text(), re.M)


def test_the_image_installs_exactly_the_locked_pins():
    locked = locked_versions()
    pins: dict[str, set[str]] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement = line.split(";")[0].strip()
        name, sep, version = requirement.partition("==")
        assert sep, f"docker/requirements.txt: {line!r} is not pinned with =="
        pins.setdefault(normalize(name), set()).add(version.strip())
    hint = "docker/requirements.txt disagrees with uv.lock: run `make docker/requirements.txt`"
    assert {n: v for n, v in pins.items() if not v <= locked.get(n, set())} == {}, hint
    assert set(locked) - {"dtm-lab"} - set(pins) == set(), hint
    assert pins["apache-airflow"] == {locked_airflow()}
    assert "pip install --no-cache-dir -r /opt/lab-requirements.txt" in DOCKERFILE.read_text()


def test_nothing_is_installed_unpinned_at_container_start(services):
    for name, service in services.items():
        env = service.get("environment") or {}
        assert not env.get("_PIP_ADDITIONAL_REQUIREMENTS"), name
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in COMPOSE.read_text()


def test_executor_database_broker_and_auth_are_what_the_celery_test_runs(services):
    postgres = services["postgres"]["environment"]
    pg = PostgresAddress(
        "postgres", 5432, postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"]
    )
    redis_command = services["redis"]["command"]
    redis_password = redis_command[redis_command.index("--requirepass") + 1]
    assert services["redis"]["environment"]["REDISCLI_AUTH"] == redis_password
    expected = {
        **DEPLOYMENT_ENV,
        **connection_env(pg, RedisAddress("redis", 6379, redis_password)),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": users_setting(DEFAULT_USER),
    }
    for name in AIRFLOW_SERVICES:
        env = services[name]["environment"]
        assert {k: env.get(k) for k in expected} == expected, name
        assert all(isinstance(v, str) for v in env.values()), f"{name}: quote every environment value"
    # The defaults are the documented local-only credentials, and the same user the lab logs in with.
    assert (pg.user, pg.password, pg.db, redis_password) == ("airflow", "airflow", "airflow", "airflow")
    jupyter = services["jupyterlab"]["environment"]
    assert jupyter["LAB_AIRFLOW_URL"] == "http://airflow-apiserver:8080"
    assert (jupyter["LAB_AIRFLOW_USERNAME"], jupyter["LAB_AIRFLOW_PASSWORD"]) == (DEFAULT_USER, "airflow")
    init = services["airflow-init"]["environment"]
    assert (init["_AIRFLOW_WWW_USER_USERNAME"], init["_AIRFLOW_WWW_USER_PASSWORD"]) == (
        DEFAULT_USER,
        "airflow",
    )
    assert CELERY_APP in str(services["airflow-worker"]["healthcheck"]["test"])


def test_no_service_publishes_beyond_loopback(raw, services):
    for name, service in services.items():
        assert service.get("network_mode") != "host", name
        for port in service.get("ports", []):
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", (name, port)
                continue
            host_ip, _, rest = str(port).partition(":")
            assert host_ip == "127.0.0.1" and rest.count(":") == 1, (
                f"{name} publishes {port!r}: write 127.0.0.1:<host port>:<container port>"
            )
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"airflow-apiserver", "jupyterlab"}
    for service in raw["services"].values():
        assert "0.0.0.0" not in str(service.get("ports", ""))


def test_health_checks_and_start_order(services):
    for name, service in services.items():
        if name != "airflow-init":
            assert service["healthcheck"]["test"], f"{name} has no healthcheck"
        for dep, rule in (service.get("depends_on") or {}).items():
            assert dep in services, (name, dep)
            wanted = "service_completed_successfully" if dep == "airflow-init" else "service_healthy"
            assert rule == {"condition": wanted}, (name, dep, rule)
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert {"postgres", "redis"} <= set(deps), name
        if name != "airflow-init":
            assert "airflow-init" in deps, name
    assert "airflow-apiserver" in services["jupyterlab"]["depends_on"]
    order, pending = [], dict(services)  # a start order exists: no dependency cycle
    while pending:
        ready = [n for n, s in pending.items() if set(s.get("depends_on") or {}) <= set(order)]
        assert ready, f"dependency cycle among {sorted(pending)}"
        order += ready
        for n in ready:
            del pending[n]


def test_dags_data_and_notebooks_are_shared_at_one_path(services):
    shared = {
        "./dags:/opt/lab/dags",
        "./data:/opt/lab/data",
        "./notebooks:/opt/lab/notebooks",
        "./lab:/opt/lab/lab:ro",
    }
    for name in AIRFLOW_SERVICES | {"jupyterlab"}:
        assert shared <= set(services[name]["volumes"]), name
        env = services[name]["environment"]
        assert env["LAB_LAKE_DIR"] == "/opt/lab/data/lake", name
        assert env["PYTHONPATH"] == "/opt/lab", name
    for name in AIRFLOW_SERVICES:
        assert services[name]["environment"]["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/lab/dags"


def test_workers_scale(services):
    worker = services["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker and "hostname" not in worker
    assert worker["command"] == "celery worker"


def test_env_example_documents_every_variable_with_the_files_default(raw):
    defaults: dict[str, set[str]] = {}
    for part in COMPOSE.read_text().split("$$"):  # $${X} is the container's variable, not compose's
        for m in VARIABLE.finditer(part):
            assert m.group("op") in (":-", "-"), m.group(0)
            defaults.setdefault(m.group("name"), set()).add(m.group("arg"))
    documented = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {name: {value} for name, value in documented.items()} == defaults
