"""The docs' Airflow UI pictures, from a real run: `python -m lab.tools.screenshots` (`make screenshots`).

A throw-away local Airflow (its own home, lake and free port under a temporary directory, so
the participant's `.airflow/` and `data/lake/` are never touched) runs the demo DAG twice, a
daily run and a range-mode reload of a week, and headless Chromium photographs:

    notebooks/img/grid_mapped_run.png    the reload run: grid on the left, task instances labelled "Partition: ..."
    notebooks/img/mapped_task_list.png   the mapped instances of process_partition, one per date
    notebooks/img/dag_graph.png          the reload run's graph: Get date range -> Process partition [7]
    notebooks/img/trigger_form.png       the trigger form that the DAG's Params generate

Each picture is taken only after the page shows what the docs say it shows (the labels, the
state), so a half-loaded page or a changed UI fails the command instead of landing in the README.
Then the Airflow is stopped, every process of it, and the temporary directory deleted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lab.config import REPO_ROOT
from lab.processes import free_port

DAG_ID = "dynamic_task_mapping_demo"
TASK_ID = "process_partition"
RELOAD_RUN_ID = "reload_2024-01-01_to_2024-01-07"
RELOAD_CONF = {
    "mode": "range",
    "start_date": "2024-01-01",
    "end_date": "2024-01-07",
    "events_per_partition": 1000,
}
DAILY_RUN_ID = "daily_load"
OUT_DIR = REPO_ROOT / "notebooks" / "img"  # next to the notebooks, so JupyterLab can show them too


def take(client, out_dir: Path) -> list[Path]:
    """Photograph the pages of a finished reload run and the trigger form; returns the files written."""
    from lab.tools import browser as ui

    out_dir.mkdir(parents=True, exist_ok=True)
    labels = [f"Partition: 2024-01-0{d}" for d in range(1, 8)]
    display_name = client.dag(DAG_ID)["dag_display_name"]
    written = []
    with ui.chromium() as browser:
        with ui.new_page(browser) as page:
            ui.open_ui(page, ui.run_url(client.url, DAG_ID, RELOAD_RUN_ID), RELOAD_RUN_ID)
            page.wait_for_load_state("networkidle")
            _require(ui.run_state(page) == "Success", "the reload run's page does not show Success")
            _require(
                sorted(x for x in ui.table_column(page, "Map Index") if x) == labels,
                "the run page lacks the labels",
            )
            written.append(_shot(page, out_dir / "grid_mapped_run.png"))

            ui.open_ui(page, ui.mapped_url(client.url, DAG_ID, RELOAD_RUN_ID, TASK_ID), "Task Instances")
            _require(
                sorted(ui.mapped_labels(page, expected=len(labels))) == labels,
                "the mapped list lacks the labels",
            )
            page.wait_for_load_state("networkidle")
            written.append(_shot(page, out_dir / "mapped_task_list.png"))

            ui.open_ui(page, ui.run_url(client.url, DAG_ID, RELOAD_RUN_ID), RELOAD_RUN_ID)
            page.get_by_title("Show Graph", exact=False).first.click()
            nodes = page.locator(".react-flow__node")
            nodes.filter(has_text="Process partition").first.wait_for(state="visible")
            graph = " ".join(nodes.all_inner_texts())
            _require("Get date range" in graph, "the graph lacks the planning task")
            _require(f"[{len(labels)}]" in " ".join(graph.split()), "the graph lacks the mapped count")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(500)  # let the layout settle (fit to view)
            written.append(_shot(page, out_dir / "dag_graph.png"))

        with ui.new_page(browser, viewport={"width": 1400, "height": 1250}) as page:
            dialog = ui.open_trigger_form(page, client.url, DAG_ID, display_name)
            form = dialog.inner_text()
            for param in RELOAD_CONF:
                _require(param in form, f"the trigger form lacks the Param {param}")
            page.wait_for_timeout(500)  # let the modal's opening animation finish
            path = out_dir / "trigger_form.png"
            dialog.screenshot(path=path)
            written.append(path)
    return written


def _shot(page, path: Path) -> Path:
    page.screenshot(path=path)
    return path


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise RuntimeError(f"not taking a misleading picture: {what}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where the PNGs go (default notebooks/img)")
    parser.add_argument(
        "--current",
        action="store_true",
        help="use the Airflow of the current LAB_* settings (started if needed, left running) instead of a throw-away one",
    )
    args = parser.parse_args(argv)

    from lab.tools import browser

    try:
        browser.chromium_path()
    except browser.BrowserMissing as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 1

    tmp = None
    if not args.current:
        tmp = Path(tempfile.mkdtemp(prefix="lab-screenshots-"))
        os.environ.update(
            {
                "LAB_AIRFLOW_HOME": str(tmp / "airflow-home"),
                "LAB_LAKE_DIR": str(tmp / "lake"),
                "LAB_AIRFLOW_PORT": str(free_port()),
            }
        )
        os.environ.pop("LAB_AIRFLOW_URL", None)
    from lab.client import AirflowError
    from lab.notebook import start

    started = time.monotonic()
    try:
        client = start()
        print("running the demo DAG: a daily run, then a reload of 2024-01-01..2024-01-07 ...", flush=True)
        for run_id, conf in ((DAILY_RUN_ID, {"mode": "daily"}), (RELOAD_RUN_ID, RELOAD_CONF)):
            try:
                client.run(DAG_ID, run_id)  # --current: the run of an earlier call is reused
                run = client.wait(DAG_ID, run_id, timeout=600, progress=False)
            except AirflowError:
                run = client.trigger_and_wait(DAG_ID, conf, run_id=run_id, timeout=600, progress=False)
            if run["state"] != "success":
                print(f"ERROR: run {run_id} is {run['state']}: see `lab logs`", file=sys.stderr)
                return 1
        for path in take(client, args.out):
            print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    finally:
        if tmp is not None:
            from lab import airflow_local

            airflow_local.down(quiet=True)
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
