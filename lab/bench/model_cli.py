"""`lab bench calibrate | predict | validate`: the cost model (`lab.bench.model`) on the command line.

    lab bench calibrate                          measure this machine's Airflow (at most 3 minutes)
    lab bench predict --strategy dynamic_mapping -p partitions 16 -p parallelism 8 -p latency_s 2
    lab bench validate                           predicted against measured on a grid (about 11 minutes)
    lab bench validate --report data/benchmarks/validation-<time>   its points predicted again (no Airflow)

`predict` prints one JSON object on stdout: {"strategy", "makespan_s", "terms", "details",
"parameters", "calibration"} (and "notes" when an Airflow default would cap the run). Its
parameters are `lab bench`'s (validated the same way): partitions, parallelism, latency_s
(required), events_per_partition (alias rows) and chunk_size (defaults as `lab bench`), and cores
(default: the calibrated machine's). On paper N goes up to MAX_PARTITIONS and P up to
MAX_PARALLELISM (a measured trial stays in the benchmark's window). Where the tasks run
(`lab.bench.model.Deployment`): executor (local | celery), workers, worker_slots (default 16,
Celery's worker_concurrency), worker_cores, colocated (default false: a machine per worker),
handoff_s and release_s (default: the latest `make bench-celery`), max_map_length (default 1024):

    lab bench predict --strategy chunked_mapping -p partitions 5000 -p parallelism 128 \
        -p latency_s 2 -p chunk_size 8 -p executor celery -p workers 8 -p worker_slots 16
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

REQUIRED = ("partitions", "parallelism", "latency_s")
OPTIONAL = ("events_per_partition", "chunk_size", "cores")
DEPLOYMENT = (
    "executor",
    "workers",
    "worker_slots",
    "worker_cores",
    "colocated",
    "handoff_s",
    "release_s",
    "max_map_length",
)
CELERY_SLOTS = 16  # [celery] worker_concurrency's default
# On paper: thousands of partitions (a year of 8 countries is 2920) and the slots of a cluster.
MAX_PARTITIONS = 100_000
MAX_PARALLELISM = 4096
# Airflow's defaults that cap a run below P unless raised (a note, not an error: they are settings).
CAPS = (
    ("max_active_tasks", 16, "the DAG's max_active_tasks (16 by default, per run) must be at least P"),
    ("parallelism", 32, "[core] parallelism (32 by default, per scheduler) must be at least P"),
)
ALIASES = {"rows": "events_per_partition"}
MAX_CORES = 1024
BOOKKEEPING_S = 5  # per validation trial: pool, deleting earlier runs, collecting the XComs, checks


def _fail(message: str) -> int:
    print(f"ERROR: {message}", file=sys.stderr)
    return 2


def prediction_params(
    strategy: str, pairs: list[tuple[str, str]], default_cores: float, measured: bool = False
) -> dict:
    """The validated parameters of a prediction, from `-p NAME VALUE` pairs; ValueError with the reason.

    `measured`: the limits of a trial that will run (N in the benchmark's date window, P <= 64);
    otherwise on paper (MAX_PARTITIONS, MAX_PARALLELISM). Deployment parameters, when any is
    given, come back under "deployment" (see `deployment_from`)."""
    from lab.bench.cli import parse_value
    from lab.bench.config import BenchConfig, BenchConfigError
    from lab.bench.model import MODELLED

    if strategy not in MODELLED:
        raise ValueError(f"the model knows no strategy {strategy!r}; it predicts {', '.join(MODELLED)}")
    params = {}
    for name, value in pairs:
        params[ALIASES.get(name, name)] = parse_value(value)
    known = REQUIRED + OPTIONAL + (() if measured else DEPLOYMENT)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown}; known are {', '.join(known)} (and rows)")
    missing = [name for name in REQUIRED if name not in params]
    if missing:
        raise ValueError(f"missing -p {' -p '.join(f'{m} VALUE' for m in missing)}")
    cores = params.pop("cores", default_cores)
    if isinstance(cores, bool) or not isinstance(cores, (int, float)) or not 0 < cores <= MAX_CORES:
        raise ValueError(f"cores must be a number above 0 and at most {MAX_CORES}, got {cores!r}")
    deployment = {name: params.pop(name) for name in DEPLOYMENT if name in params}
    on_paper = {}
    if not measured:  # N and P checked here; BenchConfig checks the rest at a size it accepts
        for name, high in (("partitions", MAX_PARTITIONS), ("parallelism", MAX_PARALLELISM)):
            value = params.pop(name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
                raise ValueError(f"{name} must be a whole number from 1 to {high}, got {value!r}")
            on_paper[name] = value
    try:  # the benchmark's own checks: the same limits as a measured trial
        config = BenchConfig(**params, strategies=[strategy])
    except (BenchConfigError, TypeError) as exc:
        raise ValueError(str(exc)) from None
    result = {
        "partitions": on_paper.get("partitions", config.partitions),
        "parallelism": on_paper.get("parallelism", config.parallelism),
        "latency_s": config.latency_s,
        "events_per_partition": config.events_per_partition,
        "chunk_size": config.chunk_size,
        "cores": cores,
    }
    if deployment:
        result["deployment"] = deployment
    return result


def deployment_from(values: dict, measured=None):
    """A `Deployment` from predict's parameters. With executor celery, `measured()` gives the
    Celery terms `make bench-celery` measured ({"handoff_s", "release_s"}) for those not given;
    CalibrationError when there are none and handoff_s is not given. ValueError with the reason."""
    from lab.bench.calibration import CalibrationError
    from lab.bench.model import Deployment

    values = dict(values)
    executor = values.get("executor", "local")
    if executor == "celery":
        if "workers" not in values:
            raise ValueError("-p executor celery needs -p workers W (and -p worker_slots S, default 16)")
        values.setdefault("worker_slots", CELERY_SLOTS)
        values.setdefault("colocated", False)
        if measured is not None and not {"handoff_s", "release_s"} <= set(values):
            try:
                terms = measured()
            except CalibrationError:
                if "handoff_s" not in values:
                    raise
                terms = {}
            values.setdefault("handoff_s", terms.get("handoff_s"))
            values.setdefault("release_s", terms.get("release_s"))
    elif set(values) - {"executor", "max_map_length"}:
        named = sorted(set(values) - {"executor", "max_map_length"})
        raise ValueError(f"{', '.join(named)} describe Celery workers: add -p executor celery")
    return Deployment(**values)  # checks each value (ModelError is a ValueError)


def notes(params: dict, strategy: str) -> list[str]:
    """Airflow defaults that would cap this run below P unless raised."""
    from lab.bench.model import MAPPED

    found = []
    for key, default, text in CAPS:
        if params["parallelism"] > default and (key != "max_active_tasks" or strategy in MAPPED):
            found.append(text)
    return found


def cmd_predict(args) -> int:
    from lab.bench import calibration, model

    try:
        saved, overheads = calibration.load(Path(args.calibration) if args.calibration else None)
    except calibration.CalibrationError as exc:
        return _fail(str(exc))

    def celery_terms() -> dict:
        from lab.bench import celery_check

        return celery_check.load(Path(args.celery_handoff) if args.celery_handoff else None)

    try:
        params = prediction_params(args.strategy, args.param or [], saved.get("cores", 1))
        deployment = deployment_from(params.pop("deployment", {}), celery_terms)
        prediction = model.makespan(args.strategy, **params, overheads=overheads, deployment=deployment)
    except (ValueError, calibration.CalibrationError) as exc:
        return _fail(str(exc))
    out = prediction.as_dict()
    if deployment != model.LOCAL:
        params["deployment"] = out["details"].pop("deployment")
    out.update(parameters=params, calibration=saved.get("created_at"))
    if notes(params, args.strategy):
        out["notes"] = notes(params, args.strategy)
    print(json.dumps(out))
    return 0


def _with_airflow(work) -> int:
    """Run `work()` with the local Airflow up; stop it afterwards if it was started here."""
    from lab import airflow_local
    from lab.config import settings

    cfg = settings()
    started_here = cfg.is_managed and not airflow_local.status(cfg)["healthy"]
    try:
        return work()
    finally:
        if started_here:
            airflow_local.down(cfg, quiet=True)
            print("Stopped the Airflow that this command started.", file=sys.stderr)


def cmd_calibrate(args) -> int:
    from lab.bench import calibration

    def work() -> int:
        result = calibration.calibrate()
        path = calibration.save(result, Path(args.out) if args.out else None)
        print(json.dumps({"calibration": str(path), "seconds": result["seconds"], **result["overheads"]}))
        check = result["check"]
        print(
            f"check: {check['strategy']} N={check['partitions']} P={check['parallelism']} no-op: measured "
            f"{check['measured_s']} s, predicted {check['predicted_s']} s",
            file=sys.stderr,
        )
        return 0

    return _with_airflow(work)


def _numbers(text: str, kind=int) -> list:
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def cmd_validate(args) -> int:
    from lab.bench import calibration, validation
    from lab.bench.model import MODELLED

    try:
        saved, overheads = calibration.load(Path(args.calibration) if args.calibration else None)
    except calibration.CalibrationError as exc:
        return _fail(str(exc))
    if args.report:  # a saved validation, predicted again from the given (or latest) calibration
        points = validation.repredict(Path(args.report), saved, overheads)
        print(f"predicted from calibration {saved.get('created_at')}")
        print(validation.report(Path(args.report), points))
        return 0
    strategies = [s for s in (args.strategies or ",".join(validation.STRATEGIES)).split(",") if s]
    unknown = [s for s in strategies if s not in MODELLED]
    if unknown:
        return _fail(f"unknown strategies {unknown}; the model predicts {', '.join(MODELLED)}")
    points = validation.grid(
        args.partitions or validation.PARTITIONS,
        args.parallelism or validation.PARALLELISM,
        args.latency if args.latency is not None else validation.LATENCIES,
        strategies,
    )
    try:  # every point checked as a prediction is, before anything runs
        for point in points:
            prediction_params(point["strategy"], [(k, str(point[k])) for k in REQUIRED], 1, measured=True)
    except ValueError as exc:
        return _fail(str(exc))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else calibration.bench_dir() / f"validation-{stamp}"
    cores, events, chunk = saved.get("cores", 1), validation.EVENTS, validation.CHUNK_SIZE
    expected = sum(validation.predict(pt, overheads, cores, events, chunk).makespan_s for pt in points)
    print(
        f"{len(points)} trials -> {out}; the model expects {expected / 60:.0f} min of trials plus "
        f"about {BOOKKEEPING_S} s of set-up and checks each",
        file=sys.stderr,
        flush=True,
    )

    def work() -> int:
        validation.validate(points, saved, overheads, out)
        print(validation.report(out))
        return 0

    return _with_airflow(work)


def add_commands(bench_parser) -> None:
    """`calibrate`, `predict` and `validate` under `lab bench` (plain `lab bench` still runs the notebook)."""
    sub = bench_parser.add_subparsers(dest="model_command", metavar="{calibrate,predict,validate}")
    p = sub.add_parser("calibrate", help="measure this machine's Airflow costs for the model (<= 3 min)")
    p.add_argument("--out", help="folder for the calibration (default data/benchmarks)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser(
        "predict", help="a strategy's predicted makespan, as JSON, from the latest calibration"
    )
    p.add_argument("--strategy", required=True, help="sequential_loop, catchup_backfill, dynamic_mapping ...")
    p.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"))
    p.add_argument("--calibration", help="a calibration file or folder (default data/benchmarks)")
    p.add_argument(
        "--celery-handoff", help="a `make bench-celery` hand-off file or folder (default data/benchmarks)"
    )
    p.set_defaults(func=cmd_predict)

    # Defaults (None here: pandas is not imported to build the command line) from lab.bench.validation.
    p = sub.add_parser("validate", help="predicted vs measured on a grid of trials (about 11 minutes)")
    p.add_argument("--partitions", type=_numbers, help="e.g. 4,16,64 (default 4,16,64)")
    p.add_argument("--parallelism", type=_numbers, help="e.g. 1,4 (default 1,4)")
    p.add_argument("--latency", type=lambda t: _numbers(t, float), help="e.g. 0,0.5 (default 0,0.5)")
    p.add_argument("--strategies", help="comma-separated (default: the four the issue names)")
    p.add_argument("--calibration", help="a calibration file or folder (default data/benchmarks)")
    p.add_argument("--out", help="results folder (default data/benchmarks/validation-<UTC time>)")
    p.add_argument("--report", metavar="DIR", help="no trials: predict a saved validation's points again")
    p.set_defaults(func=cmd_validate)
