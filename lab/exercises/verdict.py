"""PASS or FAIL in plain words: the verdict every exercise checker returns, and how it collects cases.

A checker calls the participant's code on cases with known answers and reports every case
that went wrong with what was expected, never with a traceback: an exception raised by the
participant's code (a `NotImplementedError` left in place, a typo) is a FAIL with its message.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

from lab.partitions import PartitionError


@dataclass
class Result:
    """The verdict of one checker: truthy when passed; shown as PASS/FAIL text in a notebook."""

    exercise: str
    passed: bool
    checks: int
    problems: list[str] = field(default_factory=list)
    hint: str = ""

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        if self.passed:
            return f"PASS  {self.exercise}: all {self.checks} checks passed."
        lines = [f"FAIL  {self.exercise}: {len(self.problems)} of {self.checks} checks failed."]
        lines += [f"  - {p}" for p in self.problems]
        if self.hint:
            lines.append(f"  Hint: {self.hint}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        body = html.escape(str(self)).replace("\n", "<br>")
        return (
            f'<div style="border-left:6px solid {colour};padding:6px 10px;font-family:monospace">{body}</div>'
        )


class Checks:
    """Collects the outcome of each case of one exercise."""

    def __init__(self, exercise: str, hint: str = ""):
        self.exercise, self.hint = exercise, hint
        self.count = 0
        self.problems: list[str] = []

    def expect(self, ok: bool, problem: str) -> bool:
        self.count += 1
        if not ok:
            self.problems.append(problem)
        return ok

    def fail(self, problem: str) -> Result:
        """One failed check that stops the checker: the verdict so far."""
        self.expect(False, problem)
        return self.result()

    def result(self) -> Result:
        return Result(
            self.exercise, not self.problems, self.count, self.problems, self.hint if self.problems else ""
        )


def describe(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return "NotImplementedError: not done yet, replace the `raise NotImplementedError` with your code"
    return f"{type(exc).__name__}: {exc}"


def call(fn, *args):
    """(value, None) or (None, 'Type: message') when the participant's function raised."""
    try:
        return fn(*args), None
    except Exception as exc:  # noqa: BLE001 - any error of the participant's code is a FAIL, not a traceback
        return None, describe(exc)


def expect_partition_error(checks: Checks, fn, args: tuple, why: str) -> None:
    try:
        value = fn(*args)
    except PartitionError:
        checks.expect(True, "")
    except Exception as exc:  # noqa: BLE001
        checks.expect(False, f"{format_args(args)} {why}: expected a PartitionError, got {describe(exc)}")
    else:
        checks.expect(
            False, f"{format_args(args)} {why}: expected a PartitionError, but it returned {value!r:.200}"
        )


def unfinished(checks: Checks, fn, *args) -> Result | None:
    """A FAIL with one clear line when the starter's `raise NotImplementedError` is still there."""
    if not callable(fn):
        checks.expect(False, f"expected a function, got {fn!r:.100}: pass the function itself, without ()")
        return checks.result()
    try:
        fn(*args)
    except NotImplementedError:
        checks.hint = ""  # nothing tried yet: the notebook's own hints come first
        checks.expect(
            False,
            "not done yet: replace the `raise NotImplementedError` in the edit-here cell with your code, "
            "run it, then run this check again",
        )
        return checks.result()
    except Exception:  # noqa: BLE001 - reported case by case below
        pass
    return None


def format_args(args: tuple) -> str:
    return "(" + ", ".join(repr(a) for a in args) + ")"


def head(items: list, n: int = 4) -> str:
    """The first `n` items of a list, with ' ...' when there are more."""
    return f"{items[:n]}{' ...' if len(items) > n else ''}"
