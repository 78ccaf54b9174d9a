"""The Airflow UI in a real browser: the demo DAG, a finished custom-mode run, its labelled mapped tasks.

The run is real (triggered on the session's Airflow through the REST API); the checks read
what the React UI renders, the way a participant sees it. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import uuid

import pytest

from lab.tools import browser as ui

pytestmark = [pytest.mark.airflow, pytest.mark.browser]

DAG_ID = "dynamic_task_mapping_demo"
TASK_ID = "process_partition"
DATES = ["2024-01-01", "2024-01-02", "2024-01-03"]
CONF = {"mode": "range", "start_date": DATES[0], "end_date": DATES[-1], "events_per_partition": 1000}


@pytest.fixture(scope="module")
def custom_run(request):
    """A finished custom-mode run of the demo DAG over DATES: (client, run id)."""
    client = request.config._lab_airflow.start()
    run_id = f"browser_custom_{uuid.uuid4().hex[:8]}"
    run = client.trigger_and_wait(DAG_ID, CONF, run_id=run_id, timeout=300, progress=False)
    assert run["state"] == "success", client.task_instances(DAG_ID, run_id)[["task_id", "map_index", "state"]]
    return client, run_id


def test_dag_list_shows_the_demo_dag(custom_run, page, artifacts):
    client, _ = custom_run
    display_name = client.dag(DAG_ID)["dag_display_name"]
    ui.open_ui(page, f"{client.url}/dags", display_name)
    card = page.get_by_test_id("dag-id").filter(has_text=display_name)
    card.first.scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "airflow_dag_list.png")
    assert display_name in page.get_by_test_id("dag-id").all_inner_texts()


def test_run_page_shows_the_finished_custom_run(custom_run, page, artifacts):
    client, run_id = custom_run
    ui.open_ui(page, ui.run_url(client.url, DAG_ID, run_id), run_id)
    state = ui.run_state(page)
    labels = ui.table_column(page, "Map Index")
    page.screenshot(path=artifacts / "airflow_run.png")
    assert state == "Success"
    assert sorted(label for label in labels if label) == [f"Partition: {d}" for d in DATES]


def test_mapped_task_list_labels_every_partition(custom_run, page, artifacts):
    client, run_id = custom_run
    ui.open_ui(page, ui.mapped_url(client.url, DAG_ID, run_id, TASK_ID), "Task Instances")
    labels = ui.mapped_labels(page, expected=len(DATES))
    states = ui.table_column(page, "State")
    page.screenshot(path=artifacts / "airflow_mapped_tasks.png")
    assert sorted(labels) == [f"Partition: {d}" for d in DATES]  # map_index_template, one per date
    assert states == ["Success"] * len(DATES)
