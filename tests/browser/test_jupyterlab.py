"""JupyterLab as `make lab` starts it, in a real browser: the notebook list, notebook 02, live cells.

`lab jupyter` (the command behind `make lab`) is started as a participant starts it, on a free
port (LAB_JUPYTER_PORT), against the session's Airflow (tests/plugin.py has put its LAB_*
settings into the environment, so `lab jupyter` finds it healthy and reuses it); the test reads
the token URL it prints, as a participant copies it from the terminal. Chromium opens
the file browser, opens the lesson notebook by double-click, runs its first cells with Shift+Enter
on a live kernel, and the test reads the prompts and outputs JupyterLab renders. At the end
JupyterLab is stopped the way Ctrl-C stops it, and no process of it may be left.

JupyterLab's user settings and workspaces go to a temporary directory, with autosave off:
running cells must not rewrite the committed notebook.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import nbformat
import psutil
import pytest

from lab import airflow_local
from lab.config import REPO_ROOT
from lab.processes import alive, free_port, signal_all
from lab.tools.notebooks import lesson_notebooks

pytestmark = [pytest.mark.airflow, pytest.mark.browser]

NOTEBOOK = "02_build_the_mapped_dag.ipynb"
URL_LINE = re.compile(r"^JupyterLab:\s+(http://\S+/lab\?token=(\w+))", re.M)
CODE_CELLS_TO_RUN = 4  # 02: start(), show a DAG file, run step 1 on Airflow, read the lake
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
}


class JupyterLab:
    """`lab jupyter` running in its own session, with the URL, token and log to reach it."""

    def __init__(self, tmp: Path):
        self.port = free_port()
        self.token = ""  # printed by `lab jupyter` with the URL, as a participant sees it
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "lab-jupyter.log"
        settings_dir = tmp / "settings"
        for name, value in SETTINGS.items():
            (settings_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (settings_dir / name).write_text(json.dumps(value))
        # JupyterLab checkpoints a notebook when it opens it: into the temp dir, not notebooks/.
        (tmp / "config").mkdir()
        (tmp / "config" / "jupyter_server_config.json").write_text(
            json.dumps({"FileCheckpoints": {"checkpoint_dir": str(tmp / "checkpoints")}})
        )
        env = {
            **os.environ,
            "LAB_JUPYTER_PORT": str(self.port),
            "JUPYTERLAB_SETTINGS_DIR": str(settings_dir),
            "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
            "JUPYTER_CONFIG_DIR": str(tmp / "config"),
            "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        }
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "lab"), "jupyter"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
                start_new_session=True,  # like a terminal: Ctrl-C reaches its group
            )
        self.seen: set[psutil.Process] = set()
        self.before: bytes | None = None  # the notebook's bytes before the browser opened it

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def wait_ready(self, timeout: float = 180.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(
                    f"`lab jupyter` exited with {self.proc.returncode}:\n{self.log_tail()}", pytrace=False
                )
            printed = URL_LINE.search(self.log.read_text(errors="replace"))
            if printed and not printed[1].startswith(self.url):
                pytest.fail(f"`lab jupyter` printed {printed[1]}, expected port {self.port}", pytrace=False)
            self.token = printed[2] if printed else ""
            try:
                if (
                    self.token
                    and httpx.get(
                        f"{self.url}/api/status", params={"token": self.token}, timeout=3
                    ).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        pytest.fail(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log_tail()}", pytrace=False)

    def api(self, path: str, method: str = "GET"):
        answer = httpx.request(method, f"{self.url}/api/{path}", params={"token": self.token}, timeout=30)
        answer.raise_for_status()
        return answer.json() if answer.content else None

    def processes(self) -> set[psutil.Process]:
        """`lab jupyter`, JupyterLab and its kernels (kernels lead sessions of their own)."""
        try:
            root = psutil.Process(self.proc.pid)
            self.seen |= {root, *root.children(recursive=True)}
        except psutil.NoSuchProcess:
            pass
        return self.seen

    def stop(self, timeout: float = 60.0) -> list[str]:
        """Ctrl-C, as in the terminal of `make lab`; returns what is still alive afterwards."""
        procs = self.processes()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        _, remaining = psutil.wait_procs(list(procs), timeout=15)
        left = [f"{p.pid} {' '.join(p.cmdline()[:4])}" for p in remaining if alive(p)]
        signal_all(remaining, signal.SIGKILL)  # never leave anything behind, even when the test fails
        return left


@pytest.fixture(scope="module")
def notebook() -> Path:
    path = REPO_ROOT / "notebooks" / NOTEBOOK
    assert path.exists(), f"{NOTEBOOK} is missing from notebooks/"
    return path


@pytest.fixture(scope="module")
def jupyterlab(request, tmp_path_factory, notebook):
    request.config._lab_airflow.start()  # the session's Airflow, whose LAB_* env `lab jupyter` inherits
    server = JupyterLab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_file_browser_lists_the_notebooks(jupyterlab, page, artifacts):
    page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}")
    listing = page.locator(".jp-DirListing-content .jp-DirListing-itemName")
    listing.filter(has_text=NOTEBOOK).first.wait_for(state="visible")
    names = [n.strip() for n in listing.all_inner_texts()]
    page.screenshot(path=artifacts / "jupyterlab_file_browser.png")
    lessons = [p.name for p in lesson_notebooks()]
    assert NOTEBOOK in lessons
    assert [n for n in lessons if n not in names] == []
    assert "exercises" in names


def test_notebook_runs_its_first_cells_on_a_live_kernel(jupyterlab, notebook, page, artifacts):
    stored = nbformat.read(notebook, as_version=4)
    n_cells = [i for i, c in enumerate(stored.cells) if c.cell_type == "code"][CODE_CELLS_TO_RUN - 1] + 1

    jupyterlab.before = notebook.read_bytes()
    page.goto(f"{jupyterlab.url}/lab?token={jupyterlab.token}")
    page.locator(".jp-DirListing-itemName", has_text=NOTEBOOK).first.dblclick()
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    cells = panel.locator(".jp-Notebook .jp-Cell")
    cells.nth(n_cells - 1).wait_for(state="attached")
    _wait_kernel_idle(jupyterlab, NOTEBOOK)
    code = panel.locator(".jp-Notebook .jp-CodeCell")

    # Clear the stored outputs first (Edit menu), so every prompt and output read below comes
    # from the live kernel, not from the committed notebook.
    page.locator(".lm-MenuBar-item", has_text="Edit").click()
    page.locator(".lm-Menu-item", has_text="Clear Outputs of All Cells").click()
    for i in range(CODE_CELLS_TO_RUN):
        assert code.nth(i).locator(".jp-InputPrompt").first.inner_text().strip() in {"[ ]:", ""}
        assert code.nth(i).locator(".jp-OutputArea-output").count() == 0

    cells.first.locator(".jp-InputPrompt").first.click()  # select the first cell (command mode)
    for _ in range(n_cells):
        page.keyboard.press("Shift+Enter")
    for i in range(CODE_CELLS_TO_RUN):
        prompt = code.nth(i).locator(".jp-InputPrompt").first
        expected = f"[{i + 1}]:"
        deadline = time.monotonic() + 180
        while prompt.inner_text().strip() != expected and time.monotonic() < deadline:
            time.sleep(0.5)
        assert prompt.inner_text().strip() == expected, (
            f"code cell {i + 1} did not run: prompt {prompt.inner_text()!r}"
        )
    page.wait_for_timeout(500)
    page.screenshot(path=artifacts / "jupyterlab_notebook.png")

    # JupyterLab renders an exception as stderr text with its traceback.
    errors = panel.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]', has_text="Traceback"
    )
    assert errors.count() == 0, errors.all_inner_texts()
    # What the live kernel printed is what the committed notebook shows for its checked cells
    # (compared as nbval does, after the sanitize rules; a DataFrame renders as an HTML table here).
    stored_code = [c for c in stored.cells if c.cell_type == "code"][:CODE_CELLS_TO_RUN]
    compared = 0
    for i, cell in enumerate(stored_code):
        if "NBVAL_CHECK_OUTPUT" in cell.source:
            want = _tokens(" ".join(_plain_text(o) for o in cell.outputs))
            got = _tokens(code.nth(i).locator(".jp-OutputArea").inner_text())
            assert want <= got, (
                f"code cell {i + 1}: stored output not shown by the live kernel: {sorted(want - got)[:10]}"
            )
            compared += 1
    assert compared, f"none of the first {CODE_CELLS_TO_RUN} code cells of {NOTEBOOK} has a checked output"
    sessions = [s for s in jupyterlab.api("sessions") if s["path"].endswith(NOTEBOOK)]
    assert len(sessions) == 1 and sessions[0]["kernel"]["execution_state"] in {"idle", "busy"}


WHAT_IF = "07_what_if.ipynb"
WHAT_IF_CELLS = 6  # 07: parameters, costs, the model's source, the table, its bars, the sliders


def test_what_if_sliders_render_and_drive_the_table(jupyterlab, page, artifacts):
    """Lesson 07's sliders are real widgets in JupyterLab (ipywidgets and its JupyterLab extension
    are installed by `make setup`); moving one recomputes the table below them."""
    path = REPO_ROOT / "notebooks" / WHAT_IF
    before = path.read_bytes()
    stored = nbformat.read(path, as_version=4)
    n_cells = [i for i, c in enumerate(stored.cells) if c.cell_type == "code"][WHAT_IF_CELLS - 1] + 1
    page.goto(f"{jupyterlab.url}/lab/tree/{WHAT_IF}?token={jupyterlab.token}")
    panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").first
    cells = panel.locator(".jp-Notebook .jp-Cell")
    cells.nth(n_cells - 1).wait_for(state="attached")
    _wait_kernel_idle(jupyterlab, WHAT_IF)
    cells.first.locator(".jp-InputPrompt").first.click()
    for _ in range(n_cells):
        page.keyboard.press("Shift+Enter")
    sliders = panel.locator(".widget-slider")
    sliders.nth(3).wait_for(state="visible", timeout=120_000)
    labels = [t.strip() for t in panel.locator(".widget-slider .widget-label").all_inner_texts()]
    assert labels[:4] == ["N", "P", "s/partition", "chunk k"]
    table = panel.locator(".widget-interact .jp-OutputArea-output table").first
    table.wait_for(state="visible", timeout=60_000)
    assert "chunked_mapping" in table.inner_text()
    # One step of the chunk-size slider (keyboard, as a participant would) redraws the table.
    text = panel.locator(".widget-interact").inner_text()
    assert "best chunk size" in text
    chunk = sliders.nth(3).locator(".noUi-handle").first
    chunk.click()
    page.keyboard.press("ArrowRight")
    deadline = time.monotonic() + 30
    while panel.locator(".widget-interact").inner_text() == text and time.monotonic() < deadline:
        time.sleep(0.3)
    page.screenshot(path=artifacts / "jupyterlab_what_if.png")
    assert panel.locator(".widget-interact").inner_text() != text, "moving the slider changed nothing"
    assert path.read_bytes() == before, "running cells in the browser rewrote the committed notebook"
    # Close this lesson's kernel, as a participant closing the tab with "shut down kernel" would:
    # the stop test below then times one kernel's shutdown, not two racing on a loaded machine.
    for session in jupyterlab.api("sessions"):
        if session["path"].endswith(WHAT_IF):
            jupyterlab.api(f"sessions/{session['id']}", method="DELETE")
    assert not [s for s in jupyterlab.api("sessions") if s["path"].endswith(WHAT_IF)]


def test_stopping_leaves_no_process_and_the_notebook_unchanged(jupyterlab, notebook):
    assert jupyterlab.processes(), "JupyterLab was not running"
    left = jupyterlab.stop()
    assert left == [], f"still running after Ctrl-C: {left}\n{jupyterlab.log_tail()}"
    assert notebook.read_bytes() == jupyterlab.before, (
        "running cells in the browser rewrote the committed notebook"
    )
    assert not (notebook.parent / ".ipynb_checkpoints" / f"{notebook.stem}-checkpoint.ipynb").exists()
    assert airflow_local.status()["healthy"], "`lab jupyter` must leave an Airflow it did not start running"


def _wait_kernel_idle(jupyterlab: JupyterLab, name: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sessions = [s for s in jupyterlab.api("sessions") if s["path"].endswith(name)]
        if sessions and sessions[0]["kernel"]["execution_state"] == "idle":
            return
        time.sleep(0.5)
    pytest.fail(
        f"no idle kernel for {name} after {timeout:.0f} s: {jupyterlab.api('sessions')}", pytrace=False
    )


def _tokens(text: str) -> set[str]:
    """Whitespace-separated tokens after nbval's sanitize rules (run ids, timestamps, durations, ports)."""
    rules = configparser.ConfigParser()
    rules.read(REPO_ROOT / "tests" / "nbval_sanitize.cfg")
    for section in rules.sections():
        text = re.sub(rules[section]["regex"], rules[section]["replace"], text)
    return set(text.split())


def _plain_text(output) -> str:
    """An output as JupyterLab shows it in words: a stream's text, a result's text/plain (a
    DataFrame's values are in its HTML table too). Markdown or an image renders differently, and
    its text/plain is only a repr ("<IPython.core.display.Markdown object>")."""
    if "text" in output:
        return output["text"]
    data = output.get("data", {})
    rich = {"text/markdown", "image/png", "image/svg+xml"}
    return "" if rich & set(data) else data.get("text/plain", "")
