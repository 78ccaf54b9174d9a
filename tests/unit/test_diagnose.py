"""What `lab status`, `lab up` and the lessons' start-up cell say when something is wrong (no Airflow needed)."""

import socket
import subprocess
import sys
import time

import pytest

from lab import components, diagnose, lake

SYNTAX_ERROR = """Traceback (most recent call last):
  File "<frozen importlib._bootstrap_external>", line 1004, in source_to_code
  File "<frozen importlib._bootstrap>", line 241, in _call_with_frames_removed
  File "/lab/dags/broken.py", line 5
    def broken(:
               ^
SyntaxError: invalid syntax
"""

NAME_ERROR_IN_A_HELPER = """Traceback (most recent call last):
  File "/lab/dags/uses_helper.py", line 3, in <module>
    from helper import VALUE
  File "/lab/dags/helper.py", line 7, in <module>
    VALUE = undefined_name
            ^^^^^^^^^^^^^^
NameError: name 'undefined_name' is not defined
"""


def test_a_syntax_error_names_file_line_and_message():
    problem = diagnose.parse_import_error("/lab/dags/broken.py", SYNTAX_ERROR)
    assert (problem.path, problem.line, problem.message) == (
        "/lab/dags/broken.py",
        5,
        "SyntaxError: invalid syntax",
    )
    assert str(problem) == "/lab/dags/broken.py, line 5: SyntaxError: invalid syntax"


def test_an_error_in_an_imported_module_names_where_it_is_and_which_dag_file_imports_it():
    problem = diagnose.parse_import_error("uses_helper.py", NAME_ERROR_IN_A_HELPER)
    assert str(problem) == (
        "/lab/dags/helper.py, line 7 (imported by uses_helper.py): "
        "NameError: name 'undefined_name' is not defined"
    )


def test_a_trace_without_frames_still_gives_the_message():
    problem = diagnose.parse_import_error("x.py", "ImportError: no module named nowhere")
    assert str(problem) == "x.py: ImportError: no module named nowhere"


def test_import_problems_are_described_with_what_to_do():
    text = diagnose.describe_import_problems(
        [diagnose.parse_import_error("/lab/dags/broken.py", SYNTAX_ERROR)]
    )
    assert text.splitlines() == [
        "1 DAG file(s) failed to import; every other DAG keeps running:",
        "  /lab/dags/broken.py, line 5: SyntaxError: invalid syntax",
        "  Fix the file and save it: Airflow reads it again within ~15 s.",
    ]
    assert diagnose.describe_import_problems([]) == ""


HEALTHY = {"metadatabase": {"status": "healthy"}}


def test_component_states_from_processes_and_health():
    doc = {
        **HEALTHY,
        "scheduler": {"status": "unhealthy", "latest_scheduler_heartbeat": "2024-01-01T00:00:00+00:00"},
        "triggerer": {"status": "healthy"},
    }
    alive = {"api-server": True, "scheduler": True, "dag-processor": False, "triggerer": True}
    assert diagnose.component_states(alive, doc) == {
        "api-server": diagnose.RUNNING,
        "scheduler": diagnose.UNHEALTHY,
        "dag-processor": diagnose.DEAD,
        "triggerer": diagnose.RUNNING,
    }
    # The API does not answer: the api-server is the one to blame, the others cannot be judged.
    assert diagnose.component_states({"api-server": True, "scheduler": True}, None) == {
        "api-server": diagnose.NOT_ANSWERING,
        "scheduler": diagnose.RUNNING,
    }


def test_problems_say_what_stops_working_and_what_to_do():
    states = {"api-server": diagnose.DEAD, "scheduler": diagnose.RUNNING}
    (problem,) = diagnose.problems(states, {"api-server": 41, "scheduler": 42})
    assert problem.startswith(
        "api-server is not running (pid 41 is gone): the Airflow UI and REST API are down"
    )
    assert "`make up` (or `lab up`) restarts it; the other components keep running." in problem


def test_a_taken_port_names_the_variable_and_a_free_port():
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        message = diagnose.port_taken_message(port, "LAB_JUPYTER_PORT", "LAB_AIRFLOW_INSTANCE")
    assert message.startswith(f"Port {port} on 127.0.0.1 is already in use by another program (")
    suggested = int(message.split("LAB_JUPYTER_PORT=")[1].split()[0])
    assert suggested > port


@pytest.mark.parametrize("found_by", ["marker", "working directory"])
def test_a_taken_port_held_by_another_lab_says_so(tmp_path, found_by):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    home = tmp_path / ".airflow"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin"}
    if found_by == "marker":
        env["LAB_AIRFLOW_INSTANCE"] = str(home)
    else:  # an api-server's environment is unreadable: it runs in its Airflow home, next to lab-state.json
        (home / "lab-state.json").write_text("{}")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); time.sleep(60)",
        ],
        env=env,
        cwd=home if found_by != "marker" else tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while "another lab" not in diagnose.port_holder(port, "LAB_AIRFLOW_INSTANCE"):
            assert time.monotonic() < deadline, "the holder never listened"
            time.sleep(0.2)
        assert diagnose.port_holder(port, "LAB_AIRFLOW_INSTANCE") == (
            f"the Airflow of another lab (Airflow home {home}, pid {holder.pid})"
        )
    finally:
        holder.kill()
        holder.wait()


def test_one_holder_of_the_lock_at_a_time(tmp_path):
    with components.exclusive(tmp_path / "lock", timeout=0):
        with pytest.raises(TimeoutError):
            with components.exclusive(tmp_path / "lock", timeout=0):
                pass
    with components.exclusive(tmp_path / "lock", timeout=0):  # released on exit
        pass


def test_a_dead_or_reused_pid_is_not_alive():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        created = components.create_time(proc.pid)
        assert components.alive(proc.pid, created)
        assert not components.alive(proc.pid, created - 100)  # same pid, another process
    finally:
        proc.kill()
        proc.wait()
    assert not components.alive(proc.pid, created)
    assert not components.alive(None)


def test_a_heartbeat_must_be_newer_than_the_restart():
    doc = {"scheduler": {"status": "healthy", "latest_scheduler_heartbeat": "2024-01-01T00:00:10+00:00"}}
    restart = 1704067200.0  # 2024-01-01T00:00:00Z
    assert components.heartbeat_since(doc, "scheduler", restart)
    assert not components.heartbeat_since(doc, "scheduler", restart + 60)
    assert not components.heartbeat_since({}, "scheduler", restart)


def test_a_lake_path_that_cannot_hold_directories_is_refused_before_anything_is_written(tmp_path):
    blocker = tmp_path / "lake"
    blocker.write_text("a file where the lake directory should be")
    with pytest.raises(lake.LakeNotWritableError, match=f"{blocker} is not writable: Not a directory"):
        lake.write_partition("2024-01-01", 5, lake_dir=blocker)
    assert blocker.read_text() == "a file where the lake directory should be"
