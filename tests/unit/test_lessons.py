"""notebooks/lessons.toml tells the truth: every notebook is a lesson of it, every file it names
exists, the `lab` modules it lists are the ones the notebook imports, every DAG file belongs to a
lesson, and the template of a new lesson is a notebook with the shape docs/new-lesson.md describes."""

import ast
import importlib.util
import json
import tomllib

import pytest

from lab.config import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
DAGS = REPO_ROOT / "dags"
TEMPLATE = REPO_ROOT / "docs" / "lesson_template.ipynb"
LESSONS = tomllib.loads((NOTEBOOKS / "lessons.toml").read_text())["lesson"]
by_lesson = pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson["notebook"])


def code(path) -> str:
    """A notebook's code cells as one Python text (IPython's % and ! lines left out)."""
    cells = json.loads(path.read_text())["cells"]
    lines = [
        line
        for cell in cells
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if not line.lstrip().startswith(("%", "!"))
    ]
    return "\n".join(lines)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def lab_imports(path) -> set[str]:
    """The `lab` modules a notebook's code imports (`from lab import lake` is lab.lake,
    `from lab.bench.config import BenchConfig` is lab.bench.config)."""
    found = set()
    for node in ast.walk(ast.parse(code(path))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "lab":
            for alias in node.names:  # `from lab.bench import model` is lab.bench.model
                name = f"{node.module}.{alias.name}"
                found.add(name if _is_module(name) else node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "lab"}
    return found


def test_every_notebook_is_a_lesson_or_a_solution_listed_once():
    listed = [lesson["notebook"] for lesson in LESSONS] + [x["solution"] for x in LESSONS if "solution" in x]
    on_disk = sorted(
        str(p.relative_to(NOTEBOOKS))
        for p in NOTEBOOKS.rglob("*.ipynb")
        if ".ipynb_checkpoints" not in p.parts and p != TEMPLATE
    )
    assert sorted(listed) == on_disk


@by_lesson
def test_the_files_it_names_exist(lesson):
    named = [NOTEBOOKS / lesson["notebook"], *(DAGS / d for d in lesson["dags"])]
    named += [REPO_ROOT / t for t in lesson["tests"]]
    if "solution" in lesson:
        named.append(NOTEBOOKS / lesson["solution"])
    assert [str(p.relative_to(REPO_ROOT)) for p in named if not p.is_file()] == []
    assert lesson["tests"], "a lesson without tests"


@by_lesson
def test_its_lab_modules_are_the_ones_its_notebooks_import(lesson):
    notebooks = [NOTEBOOKS / lesson["notebook"]] + (
        [NOTEBOOKS / lesson["solution"]] if "solution" in lesson else []
    )
    imported = set().union(*(lab_imports(p) for p in notebooks))
    assert sorted(lesson["lab"]) == sorted(imported)


@by_lesson
def test_the_dags_it_names_in_code_are_listed(lesson):
    """A DAG file whose path or DAG id the notebook's code names is one of the lesson's DAGs."""
    text = code(NOTEBOOKS / lesson["notebook"])
    named = {
        str(path.relative_to(DAGS))
        for path in DAGS.rglob("*.py")
        if "participant" not in path.parts
        and (str(path.relative_to(REPO_ROOT)) in text or f'"{path.stem}"' in text)
    }
    assert named <= set(lesson["dags"])


def test_every_dag_file_belongs_to_a_lesson():
    taught = {d for lesson in LESSONS for d in lesson["dags"]}
    files = {str(p.relative_to(DAGS)) for p in DAGS.rglob("*.py") if "participant" not in p.parts}
    assert sorted(files - taught) == []


def test_the_lab_module_names_are_modules():
    names = {m for lesson in LESSONS for m in lesson["lab"]}
    missing = [
        m
        for m in sorted(names)
        if not (REPO_ROOT / (m.replace(".", "/") + ".py")).is_file()
        and not (REPO_ROOT / m.replace(".", "/") / "__init__.py").is_file()
    ]
    assert missing == []


def test_the_template_is_a_lesson_skeleton_outside_the_lessons():
    import nbformat

    nb = nbformat.read(TEMPLATE, as_version=4)
    nbformat.validate(nb)
    assert nb.cells[0].source.startswith("# NN · ")
    assert nb.cells[-1].source.startswith("## What you learned")
    assert all(
        not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code"
    )
    assert lab_imports(TEMPLATE) <= {f"lab.{p.stem}" for p in (REPO_ROOT / "lab").glob("*.py")}
    # Outside notebooks/: nbval (testpaths tests, notebooks) never runs its placeholders, and the
    # committed-executed checks of notebooks/ do not apply to a skeleton.
    assert not TEMPLATE.is_relative_to(NOTEBOOKS)
    guide = (REPO_ROOT / "docs" / "new-lesson.md").read_text()
    assert "docs/lesson_template.ipynb" in guide and "notebooks/lessons.toml" in guide


def test_the_readme_layout_names_every_top_level_place_and_lab_module():
    import subprocess

    readme = (REPO_ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    layout = layout[: layout.find("\n## ", 10)]
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    top = {path.split("/")[0] for path in tracked if "/" in path and not path.startswith(".")}
    lab = {
        p.stem if p.is_file() else p.name
        for p in (REPO_ROOT / "lab").iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and not p.name.startswith("__"))
    }
    missing = sorted(f"{name}/" for name in top if f"`{name}/`" not in layout)
    missing += sorted(f"lab/{name}" for name in lab if f"`{name}" not in layout)
    assert missing == []
