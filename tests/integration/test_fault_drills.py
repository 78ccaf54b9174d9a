"""Fault drills on a real local Airflow: what goes wrong in a workshop, and what the lab does about it.

Each drill breaks the second lab (tests/integration/conftest.py: its own Airflow, started
offline) the way a participant or a machine would, does what the README's troubleshooting
table tells the participant to do, and then checks the lake: every expected partition there
exactly once with the right row count, and no staging directory left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import threading
from datetime import date, timedelta

import httpx
import psutil
import pytest

from lab import airflow_local, components, lake, notebook
from lab.client import Airflow, AirflowError
from lab.partitions import COUNTRY_TABLE
from lab.processes import free_port
from tests.helpers import LAB, SecondLab, no_staging_leftovers, wait_until

pytestmark = [pytest.mark.second_lab, pytest.mark.timeout(900)]
DAG = "partitioned_events"
FINISHED = {"success", "failed", "upstream_failed", "skipped"}


def conf(first: str, days: int, rows: int = 40, latency_s: float = 0) -> dict:
    last = (date.fromisoformat(first) + timedelta(days=days - 1)).isoformat()
    return {
        "mode": "range",
        "start_date": first,
        "end_date": last,
        "countries": ["DE"],
        "events_per_partition": rows,
        "latency_s": latency_s,
    }


def expected(first: str, days: int) -> list[str]:
    start = date.fromisoformat(first)
    return [f"event_date={start + timedelta(days=i)}/country=DE" for i in range(days)]


def assert_lake_intact(lab: SecondLab, partitions: list[str], rows: int) -> None:
    report = lake.validate(partitions, rows, table=COUNTRY_TABLE, lake_dir=lab.lake_dir)
    assert report["ok"], report
    assert no_staging_leftovers(lab.lake_dir) == []


def writers(af: Airflow, run_id: str):
    tis = af.task_instances(DAG, run_id)
    return tis[tis.task_id == "write_partition"]


def session_alive(sid: int) -> list[int]:
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == sid and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found


def one_process_per_component(lab: SecondLab) -> dict[str, int]:
    """Component -> how many session-leading `airflow <component>` processes this lab has."""
    counts: dict[str, int] = {}
    for proc in lab.processes():
        try:
            if os.getsid(proc.pid) != proc.pid:
                continue
            title = " ".join(proc.cmdline()).replace("_", "-")  # the api-server retitles itself
        except (psutil.Error, OSError):
            continue
        for name in airflow_local.LOCAL_COMPONENTS:
            if f"airflow {name}" in title:
                counts[name] = counts.get(name, 0) + 1
    return counts


def kill(lab: SecondLab, name: str) -> tuple[dict[str, int], str]:
    """SIGKILL one component; return the pids before and what `lab status` says about it then."""
    before = lab.component_pids()
    os.kill(before[name], signal.SIGKILL)
    wait_until(lambda: not components.alive(before[name]), 30, f"the {name} to die")
    status = lab.lab("status")
    assert status.returncode == 1, status.stdout
    assert f"{name} is not running (pid {before[name]} is gone)" in status.stdout
    assert "`make up` (or `lab up`) restarts it; the other components keep running." in status.stdout
    return before, status.stdout


def restore(lab: SecondLab, name: str, before: dict[str, int]) -> None:
    """`lab up`, as the participant runs it: the dead component is back, the others are untouched."""
    restored = lab.lab("up")
    assert restored.returncode == 0, restored.stdout
    others = [n for n in airflow_local.LOCAL_COMPONENTS if n != name]
    assert f"Restarting {name}; {', '.join(others)} keep running" in restored.stdout
    after = lab.component_pids()
    assert after[name] != before[name]
    assert {n: after[n] for n in others} == {n: before[n] for n in others}  # not restarted, not doubled
    assert session_alive(before[name]) == []  # what it left behind (executor workers) went with it
    assert one_process_per_component(lab) == {c: 1 for c in airflow_local.LOCAL_COMPONENTS}


def test_scheduler_killed_mid_run_is_restarted_alone_and_the_run_finishes(second_lab):
    lab, af = second_lab, second_lab.client()
    days, rows = 8, 40
    run_id = af.trigger(DAG, conf("2024-06-01", days, rows, latency_s=4))["dag_run_id"]

    def half_done():
        states = writers(af, run_id).state.tolist()
        done = sum(s == "success" for s in states)
        if len(states) == days and all(s in FINISHED for s in states):
            pytest.fail("the run finished before it was half done: nothing left to interrupt")
        return 0 < done < days

    wait_until(half_done, 420, "some partitions written and some not")
    before, _ = kill(lab, "scheduler")
    restore(lab, "scheduler", before)
    # The tasks the dead scheduler was running are reset by the new one and run again.
    assert af.wait(DAG, run_id, timeout=600, progress=False)["state"] == "success"
    assert writers(af, run_id).state.tolist() == ["success"] * days
    assert_lake_intact(lab, expected("2024-06-01", days), rows)


def test_api_server_killed_status_names_it_and_up_restores_it(second_lab):
    lab, af = second_lab, second_lab.client()
    days, rows = 3, 40
    run_id = af.trigger(DAG, conf("2024-06-11", days, rows, latency_s=6))["dag_run_id"]
    wait_until(lambda: "running" in writers(af, run_id).state.tolist(), 420, "a partition being written")
    before, status = kill(lab, "api-server")
    assert "the Airflow UI and REST API are down" in status
    with pytest.raises(AirflowError, match="Is it running\\? Try `lab status`"):
        af.run(DAG, run_id)  # what a notebook cell says meanwhile: no raw connection traceback
    restore(lab, "api-server", before)
    # Tasks that were running finish (their calls to the Execution API are retried) or are retried.
    assert af.wait(DAG, run_id, timeout=600, progress=False)["state"] == "success"
    assert writers(af, run_id).state.tolist() == ["success"] * days
    assert_lake_intact(lab, expected("2024-06-11", days), rows)


def test_dag_file_with_a_syntax_error_is_reported_and_other_dags_keep_running(second_lab, capsys):
    lab, af = second_lab, second_lab.client()
    broken = lab.dags_dir / "broken_by_a_participant.py"
    broken.write_text(
        "from airflow.sdk import dag\n\n\n@dag(schedule=None)\ndef broken_by_a_participant(:\n    pass\n"
    )
    try:
        wait_until(
            lambda: any(name.endswith(broken.name) for name in af.import_errors()),
            180,
            "the dag-processor to report the broken file",
        )
        with lab.activated():
            notebook.start()  # what every lesson's first cell runs
        shown = capsys.readouterr().err
        assert f"{broken}, line 5: SyntaxError:" in shown or f"{broken.name}, line 5: SyntaxError:" in shown
        assert "every other DAG keeps running" in shown

        status = lab.lab("status")
        assert status.returncode == 0, status.stdout  # Airflow itself is healthy
        assert f"{broken.name}, line 5: SyntaxError: invalid syntax" in status.stdout

        run = af.trigger_and_wait(DAG, conf("2024-06-21", 2), timeout=600, progress=False)
        assert run["state"] == "success"
        assert_lake_intact(lab, expected("2024-06-21", 2), 40)
    finally:
        broken.unlink(missing_ok=True)
    wait_until(
        lambda: not any(name.endswith(broken.name) for name in af.import_errors()),
        180,
        "the import error to clear once the file is gone",
    )


class Unwritable:
    """Makes a directory tree unwritable, for root too (`chattr +i`), and writable again."""

    def __init__(self, path):
        self.path, self.how = path, None

    def __enter__(self) -> str:
        if os.geteuid() == 0:  # root writes through permission bits; not through the immutable flag
            result = subprocess.run(["chattr", "-R", "+i", str(self.path)], capture_output=True, text=True)
            if result.returncode != 0:
                pytest.skip(f"running as root and `chattr +i` is not supported here: {result.stderr.strip()}")
            self.how = "chattr +i"
        else:
            for p in [self.path, *self.path.rglob("*")]:
                p.chmod(p.stat().st_mode & ~0o222)
            self.how = "chmod a-w"
        return self.how

    def __exit__(self, *exc) -> None:
        if self.how == "chattr +i":
            subprocess.run(["chattr", "-R", "-i", str(self.path)], check=True)
        elif self.how:
            for p in [self.path, *self.path.rglob("*")]:
                p.chmod(p.stat().st_mode | 0o200)


def test_unwritable_lake_fails_the_partition_with_path_and_reason_and_keeps_what_is_there(second_lab):
    lab, af = second_lab, second_lab.client()
    existing, new = expected("2024-07-01", 2)
    assert af.trigger_and_wait(DAG, conf("2024-07-01", 1), timeout=600, progress=False)["state"] == "success"
    before = lake.checksums(COUNTRY_TABLE, lab.lake_dir)[existing]

    with Unwritable(lab.lake_dir) as how:
        run = af.trigger_and_wait(DAG, conf("2024-07-01", 2), timeout=600, progress=False)
        assert run["state"] == "failed", how
        tis = writers(af, run["dag_run_id"])
        assert tis.state.tolist() == ["failed", "failed"]
        for map_index, try_number in zip(tis.map_index, tis.try_number, strict=True):
            error = af.task_error(DAG, run["dag_run_id"], "write_partition", map_index, try_number)
            assert error.startswith("LakeNotWritableError:"), error
            assert f"{lab.lake_dir}/.staging/{COUNTRY_TABLE} is not writable" in error
            assert ("Operation not permitted" if how == "chattr +i" else "Permission denied") in error
        assert lake.checksums(COUNTRY_TABLE, lab.lake_dir)[existing] == before
        assert not (lake.table_dir(COUNTRY_TABLE, lab.lake_dir) / new).exists()

    # What the participant does: make the lake writable again, then clear the failed tasks.
    af.clear(DAG, run["dag_run_id"], "write_partition")
    assert af.wait(DAG, run["dag_run_id"], timeout=600, progress=False)["state"] == "success"
    assert_lake_intact(lab, [existing, new], 40)


def test_thirty_triggers_at_once_all_create_runs_that_complete(second_lab):
    lab, af = second_lab, second_lab.client()
    af.wait_for_dag(DAG)
    before = lab.component_pids()
    first, days = date(2024, 8, 1), 30
    results: list = [None] * days
    start = threading.Barrier(days)

    def participant(i: int) -> None:
        own = Airflow(cfg=lab.cfg)  # each participant has their own notebook kernel
        start.wait()
        try:
            results[i] = own.trigger(DAG, conf((first + timedelta(days=i)).isoformat(), 1))
        except Exception as exc:  # noqa: BLE001 - any error reaching a participant fails the drill
            results[i] = exc

    threads = [threading.Thread(target=participant, args=(i,)) for i in range(days)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    assert errors == []
    run_ids = [r["dag_run_id"] for r in results]
    assert len(set(run_ids)) == days
    for run_id in run_ids:
        assert af.wait(DAG, run_id, timeout=900, progress=False)["state"] == "success"
    assert lab.component_pids() == before  # the storm took no component down
    assert_lake_intact(lab, expected(first.isoformat(), days), 40)


def test_make_lab_twice_points_at_the_first_and_ctrl_c_stops_only_jupyter(second_lab):
    lab = second_lab
    before = lab.component_pids()
    first = subprocess.Popen(
        [LAB, "jupyter"],
        env=lab.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own terminal: Ctrl-C goes to its process group only
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(first.stdout.readline, "")), daemon=True).start()
    try:
        url = wait_until(
            lambda: next((ln.split()[-1] for ln in lines if ln.startswith("JupyterLab:")), None),
            240,
            "`lab jupyter` to print its URL",
        )
        wait_until(lambda: _answers(url), 240, "JupyterLab to answer")
        jupyter = psutil.Process(first.pid).children(recursive=True)
        server = _listeners(lab.jupyter_port)
        assert len(server) == 1 and server <= {p.pid for p in jupyter}  # JupyterLab, started by it

        second = lab.lab("jupyter", timeout=240)
        assert second.returncode == 0, second.stdout
        assert "already running in another terminal" in second.stdout
        assert url in second.stdout
        assert lab.component_pids() == before  # no second Airflow, nothing restarted
        assert _listeners(lab.jupyter_port) == server  # still that one JupyterLab, no second

        os.killpg(first.pid, signal.SIGINT)  # Ctrl-C in the first terminal
        assert first.wait(timeout=120) == 0
        assert "left running" in "".join(lines)  # it did not start this Airflow, so it keeps it
        assert not [p for p in jupyter if _running(p)] and _listeners(lab.jupyter_port) == set()
        assert lab.component_pids() == before
        assert airflow_local.status(lab.cfg)["healthy"]
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _listeners(port: int) -> set[int]:
    return {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port
    }


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=5, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


def test_ctrl_c_during_lab_up_leaves_nothing_running(second_lab, tmp_path):
    """Interrupted after the components were spawned, `lab up` stops all of them and says so."""
    home = tmp_path / "home"
    home.mkdir()
    # The second lab's migrated database and task virtualenv, so that `prepare` is quick (as when
    # `lab up` runs again in a home that has been set up).
    with (
        sqlite3.connect(second_lab.cfg.airflow_home / "airflow.db") as src,
        sqlite3.connect(home / "airflow.db") as dst,
    ):
        src.backup(dst)
    shutil.copytree(second_lab.cfg.airflow_home / "venv-cache", home / "venv-cache", symlinks=True)
    env = {
        **second_lab.env,
        "LAB_AIRFLOW_HOME": str(home),
        "LAB_LAKE_DIR": str(tmp_path / "lake"),
        "LAB_AIRFLOW_PORT": str(free_port()),
    }
    up = subprocess.Popen(
        [LAB, "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:

        def spawned():
            try:
                pids = json.loads((home / "lab-state.json").read_text())["pids"]
            except (OSError, ValueError, KeyError):
                return None
            return pids if len(pids) == len(airflow_local.LOCAL_COMPONENTS) else None

        pids = wait_until(spawned, 420, "`lab up` to start the components")
        os.killpg(up.pid, signal.SIGINT)  # Ctrl-C in its terminal
        output, _ = up.communicate(timeout=120)
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
        left = airflow_local.lab_processes(home)
        if left:  # the drill failed: stop what it left running, then report it below
            subprocess.run([LAB, "down"], env=env, capture_output=True, timeout=120)
    assert up.returncode == 130, output
    assert "Interrupted: stopped the Airflow processes this `lab up` had started" in output
    assert "nothing of this lab is left running" in output
    assert "Traceback" not in output
    assert left == []
    assert not any(psutil.pid_exists(pid) and session_alive(pid) for pid in pids.values())
    assert not (home / "lab-state.json").exists()
