"""`make bench-celery`: the cost model's Celery terms measured once on the lab's real Celery deployment.

    python -m lab.bench.celery_check                   hand-off, then the check (about 5 minutes)
    python -m lab.bench.celery_check --partitions 16 --repeats 1

Starts the deployment of `make test-celery` (`lab.tools.celery_local`: PostgreSQL, Redis, Airflow
on CeleryExecutor, 2 workers x 2 slots, all on this machine) on free ports, with a temporary
Airflow home and lake, points the lab's client at it (LAB_AIRFLOW_URL and its login), then:

1. the Celery terms, each the median over REPEATS trials of one event and no latency:
   `handoff_s`, a trial's mean queued -> started (through Redis and a worker) in the calibration's
   mapping trial (dynamic_mapping N=8 P=1); `release_s`, the mean time from a task's end to the
   next task's start in the same worker slot when more instances are queued than the workers
   have slots (dynamic_mapping N=16, P = 2 x W x S); saved in
   data/benchmarks/celery-handoff-<UTC time>.json (`celery-handoff-latest.json` names the
   newest), which `lab bench predict -p executor celery` uses;
2. the check: dynamic_mapping and chunked_mapping at P = 8 (more than the 4 slots) and latency
   0.5 s, predicted from the latest local calibration on Deployment(celery, 2 x 2, co-located,
   this hand-off) and measured (`lab.bench.validation`), into data/benchmarks/celery-check-<UTC time>/.

Every process it started (Airflow, Celery workers, Redis, PostgreSQL) is stopped at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lab.bench import calibration, model

LATEST = "celery-handoff-latest.json"  # {"handoff": "<file name>"}, next to the calibrations
WORKERS, WORKER_SLOTS = 2, 2  # lab.tools.celery_local's deployment: [celery] worker_concurrency = 2
CHECK_PARTITIONS = (16, 32)
CHECK_PARALLELISM = 8
CHECK_LATENCY_S = 0.5
CHECK_STRATEGIES = ("dynamic_mapping", "chunked_mapping")


RELEASE = ("dynamic_mapping", 16, 2 * WORKERS * WORKER_SLOTS, 0.0)  # (strategy, N, P, latency_s)


def deployment(handoff_s: float, release_s: float | None) -> model.Deployment:
    """The lab's Celery deployment as the model sees it: 2 workers x 2 slots sharing this machine."""
    return model.Deployment(
        executor="celery",
        workers=WORKERS,
        worker_slots=WORKER_SLOTS,
        colocated=True,
        handoff_s=handoff_s,
        release_s=release_s,
    )


def slot_reuse_s(tis, slots_per_worker: int) -> list[float]:
    """Per worker (the hostname Airflow records), each start that had to wait for one of its
    `slots_per_worker` slots: seconds from the earliest end among the slots' tasks to that start."""
    gaps = []
    ran = tis.dropna(subset=["start_date", "end_date", "hostname"])
    for _, host in ran.groupby("hostname"):
        ends: list = []  # when each busy slot's task ended
        for start, end in host.sort_values("start_date")[["start_date", "end_date"]].itertuples(index=False):
            if len(ends) >= slots_per_worker:
                freed = min(ends)
                ends.remove(freed)
                gaps.append(max((start - freed).total_seconds(), 0.0))
            ends.append(end)
    return gaps


# ---------------------------------------------------------------- files


def save(handoff: dict, where: Path | None = None) -> Path:
    where = where or calibration.bench_dir()
    where.mkdir(parents=True, exist_ok=True)
    path = where / f"celery-handoff-{handoff['created_at']}.json"
    path.write_text(json.dumps(handoff, indent=2, default=str) + "\n")
    (where / LATEST).write_text(json.dumps({"handoff": path.name}) + "\n")
    return path


def load(where: Path | None = None) -> dict:
    """The latest measured Celery hand-off (a file as given, or LATEST in a folder)."""
    where = where or calibration.bench_dir()
    path = where if where.is_file() else None
    if path is None:
        pointer = where / LATEST
        if not pointer.exists():
            raise calibration.CalibrationError(
                f"no Celery hand-off measured in {where}: run `make bench-celery` (starts the lab's "
                "Celery deployment, about 5 minutes) or give it as -p handoff_s SECONDS"
            )
        path = where / json.loads(pointer.read_text())["handoff"]
    try:
        saved = json.loads(path.read_text())
        float(saved["handoff_s"])
        return saved
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise calibration.CalibrationError(
            f"{path} is not a Celery hand-off ({exc}): run `make bench-celery` again"
        ) from None


# ---------------------------------------------------------------- measuring (the lab client points at Celery)


def measure_handoff(repeats: int = calibration.REPEATS, say=print) -> dict:
    """The calibration's mapping trial on the Airflow LAB_AIRFLOW_URL names; its hand-off and fit."""
    from lab.bench import overhead
    from lab.bench.config import BenchConfig
    from lab.bench.runner import Runner
    from lab.config import settings

    strategy, n, p, latency = calibration.MAPPING
    config = BenchConfig(partitions=n, events_per_partition=1, latency_s=latency, parallelism=p)
    runner = Runner(config, progress=False)
    runner.t_partition = 0.0  # no work: the wave bound is 0
    runner.warm_up([], workers=WORKERS * WORKER_SLOTS)  # every worker's pool has run a task
    fits, hosts = [], set()
    for repeat in range(repeats):
        row, tis = runner.trial(strategy, p, repeat, "calibrate")
        if not row["verified"]:
            raise calibration.CalibrationError(f"a hand-off trial failed its checks: {row['problems']}")
        t0 = datetime.fromisoformat(row["triggered_at"])
        import pandas as pd

        fit = calibration.fit_mapping(overhead.decompose(tis), pd.Timestamp(t0))
        fits.append({"handoff_s": row["queue_wait_mean_s"], **fit})
        hosts |= set(tis["hostname"].dropna())
        say(
            f"  hand-off trial {repeat + 1}/{repeats}: mean queued -> started {row['queue_wait_mean_s']:.3f} s"
        )
    strategy, n, p, latency = RELEASE
    runner.config = dataclasses.replace(runner.config, partitions=n, parallelism=p)
    releases = []
    for repeat in range(repeats):
        row, tis = runner.trial(strategy, p, repeat, "calibrate")
        if not row["verified"]:
            raise calibration.CalibrationError(f"a release trial failed its checks: {row['problems']}")
        gaps = slot_reuse_s(tis, WORKER_SLOTS)
        releases.append(round(statistics.mean(gaps), 4) if gaps else 0.0)
        say(
            f"  release trial {repeat + 1}/{repeats}: a worker slot's next start {releases[-1]:.3f} s after its end"
        )
    fitted = calibration.combine(fits)
    return {
        "created_at": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
        "airflow_url": settings().url,
        "deployment": {"executor": "celery", "workers": WORKERS, "worker_slots": WORKER_SLOTS},
        "handoff_s": fitted["handoff_s"],
        "release_s": round(statistics.median(releases), 4),
        "release_repeats": releases,
        "mapping_fit": fitted,  # the same trial's other terms on Celery, to compare with the local ones
        "hostnames": sorted(hosts),
        "repeats": fits,
    }


def check(handoff_s: float, release_s: float | None, out: Path, partitions, repeats: int, say=print):
    """The check's points measured on Celery and predicted from the latest local calibration."""
    from lab.bench import validation

    saved, overheads = calibration.load()
    points = validation.grid(partitions, [CHECK_PARALLELISM], [CHECK_LATENCY_S], list(CHECK_STRATEGIES))
    say(f"check: {len(points) * repeats} trials, predicted from calibration {saved.get('created_at')}")
    return validation.validate(
        points * repeats, saved, overheads, out, deployment=deployment(handoff_s, release_s)
    ), validation.report(out)


def main(argv: list[str] | None = None) -> int:
    from lab.config import settings
    from lab.processes import free_port
    from lab.tools.celery_local import CeleryLab

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--partitions", default=",".join(map(str, CHECK_PARTITIONS)), help="e.g. 16,32")
    parser.add_argument("--repeats", type=int, default=2, help="each check point this many times (default 2)")
    args = parser.parse_args(argv)
    partitions = [int(v) for v in args.partitions.split(",") if v.strip()]

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    if "LAB_AIRFLOW_URL" in os.environ:
        say("ERROR: LAB_AIRFLOW_URL is set: unset it, this starts its own Celery deployment")
        return 2
    try:
        calibration.latest()  # the check predicts from it: refuse before starting anything
    except calibration.CalibrationError as exc:
        say(f"ERROR: {exc}")
        return 2
    base = Path(tempfile.mkdtemp(prefix="lab-celery-check-"))
    port = int(os.environ.get("LAB_AIRFLOW_PORT") or free_port())
    cfg = dataclasses.replace(
        settings(), airflow_home=base / "airflow-home", lake_dir=base / "lake", port=port,
        url=f"http://127.0.0.1:{port}", username=None, password=None, token=None,
    )  # fmt: skip
    lab = CeleryLab(cfg, workers=WORKERS)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = calibration.bench_dir() / f"celery-check-{stamp}"
    before = dict(os.environ)
    try:
        lab.start(timeout=600, say=say)
        os.environ.update(  # the lab's client, runner and lake now mean the Celery deployment
            LAB_AIRFLOW_URL=cfg.url,
            LAB_AIRFLOW_USERNAME=lab.username,
            LAB_AIRFLOW_PASSWORD=lab.password,
            LAB_LAKE_DIR=str(cfg.lake_dir),
        )
        say("the Celery hand-off (the calibration's mapping trial):")
        handoff = measure_handoff(say=say)
        path = save(handoff)
        say(f"hand-off {handoff['handoff_s']} s, slot release {handoff['release_s']} s -> {path}")
        points, report = check(handoff["handoff_s"], handoff["release_s"], out, partitions, args.repeats, say)
        ok = bool(points["verified"].all())
        summary = {
            "handoff_s": handoff["handoff_s"],
            "release_s": handoff["release_s"],
            "hostnames": handoff["hostnames"],
            "points": [
                {
                    k: row[k]
                    for k in ("strategy", "partitions", "parallelism", "measured_s", "predicted_s", "error")
                }
                for row in points.to_dict("records")
            ],
        }
        (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        print(report)
        print(f"\nresults in {out}; median absolute error {statistics.median(points['error'].abs()):.0%}")
        return 0 if ok else 1
    finally:
        os.environ.clear()
        os.environ.update(before)
        lab.stop()
        import shutil

        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
