"""`lab bench` (`make bench`): execute the benchmark notebook with papermill into a results folder.

    lab bench                                  CI-sized defaults of the notebook
    lab bench -p partitions 32 -p sweep 1,2,4,8
    lab bench --reference                      the README's reference run, then update the README
    lab bench --readme data/benchmarks/<ts>    only rewrite the README's results from a saved run
    lab bench calibrate | predict | validate   the cost model (lab.bench.model_cli)

Each run writes data/benchmarks/<UTC timestamp>/: the executed notebook, results.csv (one row
per trial), summary.csv, timelines.csv (every task instance), results.json (parameters,
machine, versions, summary) and the charts as PNG. The notebook's progress (which strategy,
which repeat) is shown in the terminal. An Airflow that `lab bench` had to start is stopped
afterwards; one that was already running is left running.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

NOTEBOOK = "04_compare_strategies.ipynb"
# The README's reference run: 16 partitions of 2 s waiting and 10 000 events each, P = 8.
REFERENCE = {
    "partitions": 16,
    "events_per_partition": 10_000,
    "latency_s": 2.0,
    "parallelism": 8,
    "chunk_size": 4,
    "repeats": 3,
    "sweep": "1,2,4,8",
    "sweep_strategies": "dynamic_mapping,catchup_backfill",
}
README_START = "<!-- bench-results:start -->"
README_END = "<!-- bench-results:end -->"
README_CHART = "speedup_vs_parallelism"  # the one chart the README shows
DOCS_DIR = Path("docs") / "benchmark"


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
    if args.readme:
        return update_readme(Path(args.readme))
    params = dict(REFERENCE) if args.reference else {}
    for name, value in args.param or []:
        params[name] = parse_value(value)
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
    if args.reference:
        return update_readme(out)
    return 0


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


# ---------------------------------------------------------------- the README's results section


def markdown_table(summary) -> str:
    columns = [
        ("strategy", "strategy", "{}"),
        ("makespan_s", "makespan s (median)", "{:.1f}"),
        ("makespan_min_s", "min", "{:.1f}"),
        ("makespan_max_s", "max", "{:.1f}"),
        ("task_instances", "task instances", "{:.0f}"),
        ("overhead_per_task_s", "overhead / task s", "{:.2f}"),
        ("efficiency", "efficiency", "{:.2f}"),
        ("cpu_bound_s", "CPU bound s", "{:.1f}"),
        ("efficiency_vs_bound", "efficiency vs max(wave, CPU bound)", "{:.2f}"),
        ("speedup_vs_sequential", "speedup vs loop", "{:.2f}x"),
        ("speedup_vs_backfill", "speedup vs backfill", "{:.2f}x"),
    ]
    columns = [c for c in columns if c[0] in summary.columns]
    lines = ["| " + " | ".join(c[1] for c in columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    for row in summary.to_dict("records"):
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("–" if value is None or value != value else fmt.format(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def readme_section(results: dict, summary, chart: str | None) -> str:
    from lab.bench.metrics import relative_speed  # pandas: not at import, `lab` starts in every make target
    from lab.bench.results import bound_text

    p, m, v = results["parameters"], results["machine"], results["versions"]
    h = results.get("headline") or {}
    lines = [
        README_START,
        f"Reference run of {results['started_at'][:10]} on {m['cpu_model']}, {m['cores_logical']} logical cores, "
        f"{m['memory_gib']} GiB (load average {m['load_average'][0]} at the start, "
        f"{m.get('load_average_end', ['?'])[0]} at the end); Airflow {v['apache-airflow']}, LocalExecutor, "
        f"DuckDB {v['duckdb']}. Parameters: partitions={p['partitions']}, "
        f"events_per_partition={p['events_per_partition']}, "
        f"latency_s={p['latency_s']:g}, parallelism={p['parallelism']}, chunk_size={p['chunk_size']}, "
        f"repeats={p['repeats']} (medians; min and max over the repeats). "
        f"t_partition (one partition in-process) = {results['t_partition_s']:.2f} s.",
        "",
        markdown_table(summary),
        "",
    ]
    if h:
        lines += [
            f"At these parameters dynamic_mapping ran "
            f"{relative_speed(h['speedup_vs_sequential'], 'sequential_loop', bold=True)} and "
            f"{relative_speed(h['speedup_vs_backfill'], 'catchup_backfill', bold=True)}, at an "
            f"efficiency of **{h['efficiency']:.2f}** of the wave bound ceil(N/P) x t_partition "
            "(P slots, no overhead, a core each)" + bound_text(h) + ".",
            "",
        ]
    if chart:
        lines += [f"![speedup over the sequential loop against parallelism]({chart})", ""]
    lines += ["Regenerate with `make bench-reference` (on a quiet machine).", README_END]
    return "\n".join(lines)


def update_readme(out: Path, repo_root: Path | None = None) -> int:
    """Copy the chart of a saved run to docs/benchmark/ and rewrite the README's results section."""
    import pandas as pd

    from lab.bench.results import load
    from lab.config import REPO_ROOT

    root = repo_root or REPO_ROOT
    results, _ = load(out)
    summary = pd.DataFrame(results["summary"])
    readme = root / "README.md"
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        print(f"ERROR: README.md has no {README_START} ... {README_END} block to fill", file=sys.stderr)
        return 1
    chart = None
    source = out / f"{README_CHART}.png"
    if source.exists():
        (root / DOCS_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, root / DOCS_DIR / source.name)
        chart = f"{DOCS_DIR.as_posix()}/{source.name}"
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(head + readme_section(results, summary, chart) + tail)
    print(
        f"README.md results section rewritten from {_shown(out, root)}"
        + (f"; chart {chart}" if chart else "")
    )
    return 0


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
        help="the README's reference parameters (-p still overrides), then update the README",
    )
    p.add_argument(
        "--readme", metavar="DIR", help="only rewrite the README's results section from a saved run"
    )
    p.set_defaults(func=cmd_bench)
    from lab.bench.model_cli import add_commands

    add_commands(p)  # lab bench calibrate | predict | validate: the cost model
