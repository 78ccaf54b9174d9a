"""The profile chosen by LAB_AIRFLOW_PROFILE is what the running Airflow's components were started with."""

import psutil
import pytest

from lab import airflow_local, profiles
from lab.config import settings

pytestmark = pytest.mark.airflow

# The components whose settings the profiles change (the scheduler's idle sleep and preload, the
# dag-processor's intervals). The api-server's environment cannot be read back: it sets its
# process title, which overwrites the memory /proc/<pid>/environ shows.
TUNED = ("scheduler", "dag-processor")


def test_the_tuned_components_run_with_the_selected_profile(airflow):
    inst = airflow_local.Instance.load(settings().airflow_home)
    seen = {name: profiles.identify(psutil.Process(inst.pids[name]).environ()) for name in TUNED}
    assert seen == dict.fromkeys(TUNED, profiles.selected())
