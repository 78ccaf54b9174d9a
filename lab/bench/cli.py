"""`lab bench` (`make bench`): execute the benchmark notebook with papermill into a results folder.

    lab bench                                  CI-sized defaults of the notebook
    lab bench -p partitions 32 -p sweep 1,2,4,8
    lab bench --reference                      the README's reference run on both profiles, then
                                               update the README (lab.bench.reference, ~25 min)
    lab bench --readme data/benchmarks/reference-<ts>   only rewrite the README's block from a saved
                                               reference run (lab.bench.reference_report)
    lab bench calibrate | predict | validate   the cost model (lab.bench.model_cli)

Each notebook run writes data/benchmarks/<UTC timestamp>/: the executed notebook, results.csv (one row
per trial), summary.csv, timelines.csv (every task instance), results.json (parameters,
machine, versions, summary) and the charts as PNG. The notebook's progress (which strategy,
which repeat) is shown in the terminal. An Airflow that `lab bench` had to start is stopped
afterwards; one that was already running is left running.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

NOTEBOOK = "04_compare_strategies.ipynb"


def parse_value(text: str):
    """A papermill-style parameter value: int, float, true/false, a YAML list, or the text itself."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (int, float, bool, list)) else text


def cmd_bench(args) -> int:
    from lab.config import settings

    cfg = settings()
    params = {name: parse_value(value) for name, value in args.param or []}
    if args.readme:
        from lab.bench.reference_report import update_readme

        return update_readme(Path(args.readme).resolve())
    if args.reference:
        return cmd_reference(params, args.out, cfg)
    _check_params(params)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else cfg.data_dir / "benchmarks" / stamp
    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    notebooks = cfg.repo_root / "notebooks"
    # The notebook saves into output_dir; given relative to notebooks/ so no machine path lands in it.
    params["output_dir"] = os.path.relpath(out, notebooks)

    from lab import airflow_local

    started_here = cfg.is_managed and not airflow_local.status(cfg)["healthy"]
    print(f"Benchmark -> {_shown(out, cfg.repo_root)}", flush=True)
    shown = ", ".join(f"{k}={v}" for k, v in params.items() if k != "output_dir")
    print(f"parameters: {shown or 'notebook defaults'}")
    try:
        import papermill

        papermill.execute_notebook(
            # Relative paths: papermill records them in the executed notebook's metadata.
            os.path.relpath(notebooks / NOTEBOOK),
            os.path.relpath(out / NOTEBOOK),
            parameters=params,
            cwd=str(notebooks),
            kernel_name="python3",
            progress_bar=False,
            stdout_file=sys.stdout,
            stderr_file=sys.stderr,
        )
    except Exception as exc:  # papermill raises PapermillExecutionError with the failing cell
        print(
            f"\nERROR: the benchmark notebook failed: {exc}\nThe partly executed notebook is in "
            f"{_shown(out / NOTEBOOK, cfg.repo_root)}",
            file=sys.stderr,
        )
        return 1
    finally:
        if started_here:
            airflow_local.down(cfg, quiet=True)
            print("Stopped the Airflow that `lab bench` started.", file=sys.stderr)
    print(f"\nResults in {_shown(out, cfg.repo_root)}:")
    for path in sorted(out.iterdir()):
        print(f"  {path.name}")
    return 0


def cmd_reference(params: dict, out: str | None, cfg) -> int:
    """The reference run on both profiles (lab.bench.reference), then the README block from it."""
    from lab.bench.config import BenchConfigError
    from lab.bench.reference import REFERENCE, reference_config, run
    from lab.bench.reference_report import update_readme

    unknown = sorted(set(params) - set(REFERENCE))
    if unknown:
        raise SystemExit(f"ERROR: unknown parameter(s) {unknown}; known are {', '.join(REFERENCE)}")
    try:
        config = reference_config(params)
    except BenchConfigError as exc:
        raise SystemExit(f"ERROR: {exc}") from None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = (Path(out) if out else cfg.data_dir / "benchmarks" / f"reference-{stamp}").resolve()
    print(f"Reference benchmark on both profiles -> {_shown(target, cfg.repo_root)}", flush=True)
    run(config, target, cfg)
    print("The local Airflow is stopped (each round started and stopped it); `make up` starts it again.")
    return update_readme(target)


def _check_params(params: dict) -> None:
    """Refuse bad parameters before Airflow starts: the same validation the notebook applies."""
    from lab.bench.config import BenchConfig, BenchConfigError

    known = {f for f in BenchConfig.__dataclass_fields__}
    unknown = sorted(set(params) - known)
    if unknown:
        raise SystemExit(f"ERROR: unknown parameter(s) {unknown}; known are {', '.join(sorted(known))}")
    try:
        BenchConfig(**params)
    except BenchConfigError as exc:
        raise SystemExit(f"ERROR: {exc}") from None


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def add_cli(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="run the strategy benchmark notebook into data/benchmarks/<UTC timestamp>/",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        help="a notebook parameter, as papermill's -p (lists as 1,2,4 or [1, 2, 4])",
    )
    p.add_argument("--out", help="results folder (default data/benchmarks/<UTC timestamp>)")
    p.add_argument(
        "--reference",
        action="store_true",
        help="the README's reference run, both profiles interleaved (-p overrides its parameters), "
        "then update the README",
    )
    p.add_argument(
        "--readme",
        metavar="DIR",
        help="only rewrite the README's reference block from a saved data/benchmarks/reference-<time>",
    )
    p.set_defaults(func=cmd_bench)
    from lab.bench.model_cli import add_commands

    add_commands(p)  # lab bench calibrate | predict | validate: the cost model
