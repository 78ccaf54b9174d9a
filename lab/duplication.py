"""How much code do files share? Copy-paste measured with difflib, line by line.

Lesson 01 uses it on the three anti-pattern DAGs: the number that matters is how many lines
you would have to change in *every* copy when the loop changes (a retry, a new column, a fix).

Lines are compared after stripping indentation and trailing spaces; blank lines, comment
lines and the module docstring (each exhibit's label, different on purpose) are left out.
Only runs of at least `min_lines` consecutive equal lines count as shared, so a lone `)` or
`return result` that two files happen to have in common is not called duplication.
"""

from __future__ import annotations

import ast
import difflib
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path


@dataclass(frozen=True)
class Block:
    """A run of consecutive lines that two files share (0-based positions in their code lines)."""

    a_start: int
    b_start: int
    lines: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.lines)


def _docstring_lines(text: str) -> set[int]:
    """1-based line numbers taken by the module docstring (none if the text does not parse)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:  # a fragment, not a module: a leading triple-quoted block is its docstring
        stripped = text.lstrip()
        quote = stripped[:3]
        if quote not in ('"""', "'''") or quote not in stripped[3:]:
            return set()
        first = text[: len(text) - len(stripped)].count("\n") + 1
        return set(range(first, first + stripped[: stripped.index(quote, 3) + 3].count("\n") + 1))
    if (
        tree.body
        and isinstance(tree.body[0], ast.Expr)
        and isinstance(getattr(tree.body[0], "value", None), ast.Constant)
    ):
        node = tree.body[0]
        if isinstance(node.value.value, str):
            return set(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return set()


def code_lines(text: str) -> list[str]:
    """The lines that count: stripped, without blanks, comment lines and the module docstring."""
    skip = _docstring_lines(text)
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if number in skip or not stripped or stripped.startswith("#"):
            continue
        lines.append(stripped)
    return lines


def shared_blocks(a: str, b: str, min_lines: int = 2) -> list[Block]:
    """The runs of at least `min_lines` code lines that text `a` and text `b` have in common, in order."""
    return _blocks(code_lines(a), code_lines(b), min_lines)


def _blocks(la: list[str], lb: list[str], min_lines: int) -> list[Block]:
    if min_lines < 1:
        raise ValueError(f"min_lines must be at least 1, got {min_lines}")
    matcher = difflib.SequenceMatcher(None, la, lb, autojunk=False)
    return [
        Block(m.a, m.b, tuple(la[m.a : m.a + m.size]))
        for m in matcher.get_matching_blocks()
        if m.size >= min_lines
    ]


def shared_lines(a: str, b: str, min_lines: int = 2) -> int:
    """How many code lines of `a` also appear, in the same order, in `b`."""
    return sum(block.size for block in shared_blocks(a, b, min_lines))


def duplication_table(paths: list[str | Path], min_lines: int = 2, root: str | Path | None = None):
    """One row per pair of files: their code lines, the lines they share, and the share in percent.

    `root` makes the file names in the table relative (notebooks never print machine paths).
    """
    import pandas as pd

    if len(paths) < 2:
        raise ValueError("comparing needs at least two files")
    texts = {Path(p): Path(p).read_text() for p in paths}
    rows = []
    for pa, pb in combinations(texts, 2):
        shared = shared_lines(texts[pa], texts[pb], min_lines)
        la, lb = len(code_lines(texts[pa])), len(code_lines(texts[pb]))
        rows.append(
            {
                "file_a": _name(pa, root),
                "file_b": _name(pb, root),
                "lines_a": la,
                "lines_b": lb,
                "shared": shared,
                "shared_pct_of_smaller": round(100 * shared / min(la, lb), 1) if min(la, lb) else 0.0,
            }
        )
    return pd.DataFrame(rows)


def common_to_all(texts: list[str], min_lines: int = 2) -> list[tuple[str, ...]]:
    """Runs of lines that every text contains: what a change to the shared logic must touch N times.

    Found by intersecting the first text with each other one in turn (keeping, within each
    run, only what is also in the next text), so the result is in the first text's order.
    """
    if len(texts) < 2:
        raise ValueError("comparing needs at least two texts")
    runs = [block.lines for block in shared_blocks(texts[0], texts[1], min_lines)]
    for other in texts[2:]:
        other_lines = code_lines(other)
        runs = [block.lines for run in runs for block in _blocks(list(run), other_lines, min_lines)]
    return runs


def _name(path: Path, root: str | Path | None) -> str:
    if root is None:
        return path.name
    try:
        return str(path.resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return path.name
