"""Step 5: pairs, not a product: `expand_kwargs()` and `.zip()`.

When only some combinations are wanted (DE on the 1st, FR on the 2nd, NL on the 3rd), a cross
product would do 9 instead of 3. Two ways to map over pairs:

- `write_pair.expand_kwargs(get_pairs())`: the upstream task returns one dict of keyword
  arguments per instance, `[{"date_str": ..., "country": ...}, ...]`;
- `count_rows.expand(pair=get_dates().zip(get_countries()))`: two lists of the same length
  are zipped into (date, country) tuples, like Python's `zip`.

`write_pair` writes each pair's partition to the lake table `step_05` through
`lab.lake.write_partition`; `count_rows` then reads each partition back with DuckDB.
"""

from __future__ import annotations

from airflow.sdk import dag, task

TABLE = "step_05"
EVENTS_PER_PARTITION = 30


@dag(dag_id="step_05_pairs", schedule=None, tags=["lab", "steps"])
def step_05_pairs():
    @task
    def get_pairs() -> list[dict]:
        return [
            {"date_str": "2024-01-01", "country": "DE"},
            {"date_str": "2024-01-02", "country": "FR"},
            {"date_str": "2024-01-03", "country": "NL"},
        ]

    @task
    def write_pair(date_str: str, country: str) -> dict:
        from lab.lake import write_partition

        written = write_partition(date_str, EVENTS_PER_PARTITION, country=country, table=TABLE)
        return {"partition": written["partition"], "rows": written["rows"]}

    @task
    def get_dates() -> list[str]:
        return ["2024-01-01", "2024-01-02", "2024-01-03"]

    @task
    def get_countries() -> list[str]:
        return ["DE", "FR", "NL"]

    @task
    def count_rows(pair: tuple[str, str]) -> dict:
        from lab.lake import connect, partition_dir
        from lab.partitions import Partition

        date_str, country = pair
        files = str(partition_dir(date_str, country, table=TABLE) / "*.parquet")
        con = connect()
        try:
            (rows,) = con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()
        finally:
            con.close()
        return {"partition": Partition(date_str, country).path, "rows": rows}

    written = write_pair.expand_kwargs(get_pairs())
    counted = count_rows.expand(pair=get_dates().zip(get_countries()))
    written >> counted


step_05_pairs()
