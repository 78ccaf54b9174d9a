"""Checkers for the exercises in notebooks/exercises/: each answers PASS or FAIL in plain words.

A checker calls the participant's code on cases with known answers (or runs their DAG on the
lab's Airflow) and reports every case that went wrong with what was expected, never with a
traceback.

    from lab.exercises import check_countries_filter
    check_countries_filter(plan_partitions)      # -> PASS ... / FAIL ... (shown in the notebook)

| exercise | checker | what it checks |
|---|---|---|
| 1 countries filter | `check_countries_filter(fn)` | dates x chosen countries as `expand_kwargs` input, bad codes refused |
| 2 skip weekends | `check_weekday_dates(fn)` | a reload's dates without Saturdays and Sundays |
| 3 pool | `check_pool_dag(path)` | the DAG file parses and its mapped task runs in the `lake_writers` pool |
| 4 validation query | `check_validation_query(sql)` | the SQL finds missing and wrong partitions on small lakes built here |
| 5 mapped DAG | `check_mapped_dag(path)` | a real run of the participant's DAG: mapped instances, labels, a retry, the lake |

`lab check` (`make check`) reads the participant's notebooks, Airflow and lake and prints how
far they got (`lab.exercises.progress`).
"""

from lab.exercises.dagfile import inspect_dag_file
from lab.exercises.functions import check_countries_filter, check_weekday_dates
from lab.exercises.mapped_dag import (
    CHECK_CONF,
    MAPPED_DAG_ID,
    MAPPED_TABLE,
    MAPPED_TASK_ID,
    check_mapped_dag,
    participant_dag_file,
)
from lab.exercises.pool import POOL_DAG_ID, POOL_NAME, POOL_TASK_ID, check_pool_dag
from lab.exercises.validation import (
    VALIDATION_END,
    VALIDATION_ROWS,
    VALIDATION_START,
    build_validation_lake,
    check_validation_query,
    run_validation_query,
)
from lab.exercises.verdict import Result

__all__ = [
    "CHECK_CONF",
    "MAPPED_DAG_ID",
    "MAPPED_TABLE",
    "MAPPED_TASK_ID",
    "POOL_DAG_ID",
    "POOL_NAME",
    "POOL_TASK_ID",
    "VALIDATION_END",
    "VALIDATION_ROWS",
    "VALIDATION_START",
    "Result",
    "build_validation_lake",
    "check_countries_filter",
    "check_mapped_dag",
    "check_pool_dag",
    "check_validation_query",
    "check_weekday_dates",
    "inspect_dag_file",
    "participant_dag_file",
    "run_validation_query",
]
