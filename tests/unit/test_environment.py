"""environment.yml (conda) installs exactly what uv.lock installs."""

import re
import tomllib

import yaml

from lab.config import REPO_ROOT
from tests.helpers import locked_versions, normalize


def conda_pins() -> dict[str, str]:
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins = {}
    for line in pip:
        requirement = line.split(";")[0].strip()
        if requirement.startswith("-e"):
            continue
        name, _, version = requirement.partition("==")
        assert version, f"environment.yml: {line!r} is not pinned with =="
        pins[normalize(name)] = version.strip()
    return pins


def test_environment_yml_pins_match_the_lock():
    locked = locked_versions()
    pins = conda_pins()
    mismatched = {
        name: (version, locked.get(name))
        for name, version in pins.items()
        if version not in locked.get(name, ())
    }
    assert not mismatched, (
        f"environment.yml disagrees with uv.lock (run `make environment.yml`): {mismatched}"
    )


def test_environment_yml_covers_the_direct_dependencies():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    direct = {normalize(re.split(r"[=<>\[ ]", dep)[0]): dep.split("==")[1] for dep in project["dependencies"]}
    pins = conda_pins()
    assert {name: pins.get(name) for name in direct} == direct
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]


def test_airflow_is_pinned_exactly_to_3_3():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    airflow = [d for d in project["dependencies"] if d.startswith("apache-airflow==")]
    assert len(airflow) == 1 and re.fullmatch(r"apache-airflow==3\.3\.\d+", airflow[0])
