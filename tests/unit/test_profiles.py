"""The two Airflow profiles: `default` is Airflow's own settings, `lab` changes each of them for a reason."""

import json
import subprocess
import sys

import pytest
from airflow.configuration import conf

from lab import profiles
from lab.airflow_local import airflow_env
from lab.config import settings

AIRFLOW_OPTIONS = [s for s in profiles.LAB if s.section != profiles.LAB_ENV]


def test_the_default_profile_is_airflows_own_defaults():
    for setting in profiles.DEFAULT:
        if setting.section == profiles.LAB_ENV:
            assert setting.value == "", setting.env_var  # the lab's own switches: off
            continue
        assert setting.value == conf.get_default_value(setting.section, setting.key), setting.env_var


def test_the_lab_profile_tunes_real_options_each_with_a_reason():
    for setting in profiles.LAB:
        assert len(setting.reason) > 20, setting.env_var
    for setting in AIRFLOW_OPTIONS:
        assert conf.get_default_value(setting.section, setting.key) is not None, (
            f"unknown option {setting.env_var}"
        )
        assert len(setting.reason) > 20, setting.env_var


def test_a_saved_dag_file_is_reparsed_before_min_file_process_interval(monkeypatch, tmp_path):
    """The lab profile's long min_file_process_interval relies on the dag-processor queueing files
    modified since their last parse, which it does only in the `modified_time` sort mode."""
    assert conf.get_default_value("dag_processor", "file_parsing_sort_mode") == "modified_time"
    monkeypatch.setenv("LAB_AIRFLOW_HOME", str(tmp_path))
    for name in profiles.PROFILES:
        monkeypatch.setenv(profiles.PROFILE_VAR, name)
        assert "AIRFLOW__DAG_PROCESSOR__FILE_PARSING_SORT_MODE" not in airflow_env(settings())


def test_the_profiles_set_the_same_options_to_different_values():
    lab = {s.env_var: s.value for s in profiles.LAB}
    default = {s.env_var: s.value for s in profiles.DEFAULT}
    assert lab.keys() == default.keys()
    assert all(lab[k] != default[k] for k in lab), "a lab setting that equals Airflow's default tunes nothing"


def test_lab_is_the_default_profile_and_an_unknown_one_is_refused():
    assert profiles.selected({}) == "lab"
    assert profiles.selected({profiles.PROFILE_VAR: "default"}) == "default"
    with pytest.raises(profiles.ProfileError, match="LAB_AIRFLOW_PROFILE='fast'.*lab, default"):
        profiles.selected({profiles.PROFILE_VAR: "fast"})


@pytest.mark.parametrize("name", list(profiles.PROFILES))
def test_airflow_env_applies_the_chosen_profile(name, monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv(profiles.PROFILE_VAR, name)
    env = airflow_env(settings())
    assert env[profiles.PROFILE_VAR] == name
    for setting in profiles.PROFILES[name]:
        assert env[setting.env_var] == setting.value


def test_an_explicit_setting_wins_over_the_profile(monkeypatch, tmp_path):
    monkeypatch.setenv("LAB_AIRFLOW_HOME", str(tmp_path))
    one = profiles.LAB[0]
    env = airflow_env(settings(), {one.env_var: "42"})
    assert env[one.env_var] == "42"
    chosen = airflow_env(settings(), {profiles.PROFILE_VAR: "default"})
    assert all(chosen[s.env_var] == s.value for s in profiles.DEFAULT)


def test_a_process_environment_tells_its_profile():
    for name in profiles.PROFILES:
        assert profiles.identify({**profiles.profile_env(name), "PATH": "/bin"}) == name
    changed = {**profiles.profile_env("lab"), profiles.LAB[0].env_var: "7"}
    assert profiles.identify(changed) == "custom"
    assert profiles.identify({"PATH": "/bin"}) == "none"


def test_airflow_reads_each_profile_as_written(tmp_path, monkeypatch):
    """What Airflow's own config parser makes of each profile's environment (in one fresh process)."""
    monkeypatch.setenv("LAB_AIRFLOW_HOME", str(tmp_path))
    envs = {name: airflow_env(settings(), {profiles.PROFILE_VAR: name}) for name in profiles.PROFILES}
    keys = [(s.section, s.key, s.env_var) for s in AIRFLOW_OPTIONS]
    read = (
        "import json, os, sys\n"
        "from airflow.configuration import conf\n"
        "envs, keys = json.loads(sys.stdin.read())\n"
        "seen = {}\n"
        "for name, env in envs.items():\n"
        "    os.environ.update({var: env[var] for _, _, var in keys})  # conf reads the environment on each get\n"
        "    seen[name] = {f'{s}.{k}': conf.get(s, k) for s, k, _ in keys}\n"
        "print(json.dumps(seen))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", read],
        input=json.dumps([envs, keys]),
        env=envs["default"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    for name, values in profiles.PROFILES.items():
        expected = {f"{s.section}.{s.key}": s.value for s in values if s.section != profiles.LAB_ENV}
        assert seen[name] == expected, name
