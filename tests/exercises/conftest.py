"""Fixtures of the exercise tests."""

from __future__ import annotations

import pytest

from lab.exercises import participant_dag_file


@pytest.fixture
def participant_file():
    """dags/participant/exercise_5_mapped.py for a test; a participant's own file is put back afterwards."""
    path = participant_dag_file().resolve()
    saved = path.read_bytes() if path.exists() else None
    yield path
    if saved is None:
        path.unlink(missing_ok=True)
    else:
        path.write_bytes(saved)
