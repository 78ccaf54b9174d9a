"""After `make setup`, the lab needs no network: starting it, a lesson, its virtualenv tasks.

The second lab (tests/integration/conftest.py) is started with every proxy variable pointing at
a closed local port and uv / pip set offline, from a fresh Airflow home: its database is
migrated and the tasks' virtualenv built with no index to download from. Here a lesson runs on
it headless in a kernel with the same environment, as in a workshop whose Wi-Fi is gone.
"""

from __future__ import annotations

import json
import subprocess
import sys

import psutil
import pytest

from lab import lake
from lab.config import REPO_ROOT

pytestmark = [pytest.mark.second_lab, pytest.mark.timeout(900)]
LESSON = REPO_ROOT / "notebooks" / "03_query_the_lake.ipynb"
DEMO = "dynamic_task_mapping_demo"

EXECUTE = """
import sys, nbformat
from nbclient import NotebookClient
nb = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": sys.argv[2]}}).execute()
nbformat.write(nb, sys.argv[3])
"""


def test_the_network_really_is_blocked(second_lab):
    fetch = "import urllib.request; urllib.request.urlopen('https://pypi.org/simple/duckdb/', timeout=20)"
    result = subprocess.run([sys.executable, "-c", fetch], env=second_lab.env, capture_output=True, text=True)
    assert result.returncode != 0
    assert "Connection refused" in result.stderr
    # ... and the lab's Airflow runs in that environment (its tasks inherit it).
    scheduler = psutil.Process(second_lab.component_pids()["scheduler"])
    env = scheduler.environ()
    assert env["HTTPS_PROXY"] == second_lab.offline["HTTPS_PROXY"] and env["UV_OFFLINE"] == "1"


def test_make_setup_after_setup_downloads_nothing(second_lab):
    """`make lab` runs `make setup` first: once installed, it only runs `lab prepare` (offline, as
    the second lab's start from a fresh home shows), never uv, whose stamp is up to date."""
    result = subprocess.run(
        ["make", "--question", ".venv/.synced"], cwd=REPO_ROOT, env=second_lab.env, capture_output=True
    )
    assert result.returncode == 0, "the locked environment is out of date: `make setup` would download"


def test_a_lesson_and_its_virtualenv_tasks_run_offline(second_lab, tmp_path):
    out = tmp_path / LESSON.name
    result = subprocess.run(
        [sys.executable, "-c", EXECUTE, str(LESSON), str(LESSON.parent), str(out)],
        env=second_lab.env,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = [
        o
        for cell in json.loads(out.read_text())["cells"]
        if cell["cell_type"] == "code"
        for o in cell["outputs"]
    ]
    assert not [o for o in outputs if o["output_type"] == "error"]
    texts = ["".join(o.get("data", {}).get("text/plain", "")) + "".join(o.get("text", "")) for o in outputs]
    assert "'success'" in texts  # the lesson's mapped run of the demo DAG
    assert any("re-run: success" in t for t in texts)

    # The lake the lesson leaves: a week of partitions, 500 events each, once.
    week = [f"event_date=2024-01-0{d}" for d in range(1, 8)]
    assert lake.validate(week, 500, lake_dir=second_lab.lake_dir)["ok"]

    # Its partitions were written by @task.virtualenv tasks, in the venv `prepare` built offline.
    af = second_lab.client()
    runs = af.runs(DEMO)
    assert len(runs) >= 2 and set(runs.state) == {"success"}
    for run_id in runs.dag_run_id:
        tis = af.task_instances(DEMO, run_id)
        mapped = tis[tis.task_id == "process_partition"]
        assert set(mapped.state) == {"success"}
        log = af.task_log(DEMO, run_id, "process_partition", int(mapped.map_index.iloc[0]))
        assert "Reusing cached Python virtual environment" in log
