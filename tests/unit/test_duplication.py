"""lab.duplication: shared lines between files, as lesson 01 measures them on the anti-pattern DAGs."""

import pytest

from lab.config import REPO_ROOT
from lab.duplication import code_lines, common_to_all, duplication_table, shared_blocks, shared_lines

EXHIBITS = [
    REPO_ROOT / "dags" / "antipatterns" / n
    for n in ("daily_load.py", "date_range_reload.py", "country_reload.py")
]

LOOP = """
for day in dates:
    started = now()
    write(day)
    log(day)
"""


def test_code_lines_drop_blanks_comments_indentation_and_the_module_docstring():
    text = '"""Module doc,\nover two lines."""\n\nimport os  \n# a comment\n\nif os:\n    x = 1\n'
    assert code_lines(text) == ["import os", "if os:", "x = 1"]


def test_a_string_that_is_not_the_module_docstring_is_code():
    assert code_lines('import os\n"""not a docstring"""\n') == ["import os", '"""not a docstring"""']


def test_identical_texts_share_every_code_line():
    assert shared_lines(LOOP, LOOP) == 4


def test_indentation_and_blank_lines_do_not_hide_a_copy():
    reindented = "\n".join("        " + line + "\n" for line in LOOP.splitlines())
    assert shared_lines(LOOP, reindented) == 4


def test_disjoint_texts_share_nothing():
    assert shared_lines("a = 1\nb = 2\n", "c = 3\nd = 4\n") == 0


def test_a_single_common_line_is_not_duplication_but_a_run_of_two_is():
    a = "x = 1\nreturn result\ny = 2\n"
    b = "z = 3\nreturn result\nw = 4\n"
    assert shared_lines(a, b) == 0
    assert shared_lines(a, b, min_lines=1) == 1
    assert shared_lines("p = 1\nq = 2\nr = 3\n", "s = 0\np = 1\nq = 2\n") == 2


def test_shared_blocks_report_positions_and_lines():
    blocks = shared_blocks("a = 0\n" + LOOP, LOOP + "b = 1\n")
    assert [(b.a_start, b.b_start, b.size) for b in blocks] == [(1, 0, 4)]
    assert blocks[0].lines[0] == "for day in dates:"


def test_common_to_all_keeps_only_what_every_text_has():
    a = LOOP + "extra_a = 1\nmore_a = 2\n"
    b = "other = 0\n" + LOOP
    c = LOOP.replace("log(day)", "print(day)")
    assert common_to_all([a, b, c]) == [("for day in dates:", "started = now()", "write(day)")]
    assert common_to_all([a, b, "nothing = 1\nin_common = 2\n"]) == []


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="min_lines"):
        shared_lines(LOOP, LOOP, min_lines=0)
    with pytest.raises(ValueError, match="at least two"):
        duplication_table(EXHIBITS[:1])
    with pytest.raises(ValueError, match="at least two"):
        common_to_all([LOOP])


def test_the_three_exhibits_really_are_copies_of_one_loop():
    """The lesson's point must stay visible: every exhibit carries the same partition loop."""
    table = duplication_table(EXHIBITS, root=REPO_ROOT)
    assert table[["file_a", "file_b"]].values.tolist() == [
        ["dags/antipatterns/daily_load.py", "dags/antipatterns/date_range_reload.py"],
        ["dags/antipatterns/daily_load.py", "dags/antipatterns/country_reload.py"],
        ["dags/antipatterns/date_range_reload.py", "dags/antipatterns/country_reload.py"],
    ]
    assert (table["shared"] >= 8).all()
    shared = [line for run in common_to_all([p.read_text() for p in EXHIBITS]) for line in run]
    assert "for day in dates:  # one partition after the other, all inside this one task" in shared
    assert "started = datetime.now(UTC)" in shared


def test_a_fragment_that_does_not_parse_still_loses_its_leading_docstring():
    assert code_lines('\n"""Doc\nstring."""\n    indented = 1\n') == ["indented = 1"]
