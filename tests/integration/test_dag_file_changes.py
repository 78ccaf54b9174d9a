"""What participants rely on, with the `lab` profile: a DAG file they save shows up without a restart.

A new file, a broken one (its import error), an edit of a parsed one and, seconds later, a new
task in it (its structure: the serialized DAG, stored at most every `[core]
min_serialized_dag_update_interval`) each become visible through the REST API. The `lab`
profile re-parses unchanged files only every 600 s (`[dag_processor] min_file_process_interval`);
an edited file must still be re-parsed at once, because the dag-processor queues every file
modified since its last parse (`file_parsing_sort_mode = modified_time`, Airflow's default). The
timeout is generous (the machine is shared); with Airflow's defaults a new file would take up
to 300 s, and a second edit within 30 s of the first up to the next parse.
"""

import pytest

from lab import profiles
from lab.bench.responsiveness import dag_file_latency
from lab.config import settings
from tests.helpers import wait_until

pytestmark = [
    pytest.mark.airflow,
    pytest.mark.skipif(profiles.selected() != "lab", reason="the lab profile's promise"),
]

TIMEOUT_S = 90


def test_new_broken_and_edited_dag_files_show_up_without_a_restart(airflow):
    before = set(airflow.import_errors())

    seen = dag_file_latency(airflow, settings().dags_dir, timeout=TIMEOUT_S)  # TimeoutError if not

    assert set(seen) == {"new_dag_file_s", "import_error_s", "edited_dag_file_s", "new_task_s"}
    # The probe's files are gone again: so is its import error, once the folder is listed again.
    wait_until(lambda: set(airflow.import_errors()) == before, TIMEOUT_S, "the probe's import error to go")
