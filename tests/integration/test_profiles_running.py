"""The profile chosen by LAB_AIRFLOW_PROFILE is what the running Airflow's components were started with."""

import psutil
import pytest

from lab import airflow_local, profiles
from lab.config import settings

pytestmark = pytest.mark.airflow


def test_every_component_runs_with_the_selected_profile(airflow):
    cfg = settings()
    inst = airflow_local.Instance.load(cfg.airflow_home)
    expected = profiles.selected()
    seen = {name: profiles.identify(psutil.Process(pid).environ()) for name, pid in inst.pids.items()}
    assert seen == dict.fromkeys(inst.pids, expected)
