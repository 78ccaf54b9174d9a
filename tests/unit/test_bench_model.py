"""The cost model's arithmetic, its fits from trial records, and `lab bench predict`: no Airflow needed."""

import json

import pandas as pd
import pytest

from lab.bench import calibration, overhead
from lab.bench.model import MODELLED, ModelError, Overheads, makespan, task_sizes, waves
from lab.cli import main as lab_main
from tests.helpers import model_costs

COSTS = model_costs()


def predict(strategy, n, p, latency=1.0, events=1000, chunk=4, cores=64, costs=COSTS):
    return makespan(strategy, n, p, latency, events, chunk, cores, costs)


@pytest.mark.parametrize("strategy", MODELLED)
@pytest.mark.parametrize("n,p,cores", [(1, 1, 2), (16, 4, 2), (7, 8, 1), (64, 32, 0.5)])
def test_terms_add_up_to_the_makespan(strategy, n, p, cores):
    prediction = predict(strategy, n, p, cores=cores)
    assert prediction.makespan_s == pytest.approx(sum(prediction.terms.values()))
    assert all(v >= 0 for v in prediction.terms.values())


def test_mapping_at_p1_is_a_chain_of_tasks_with_a_pass_between_them():
    t = predict("dynamic_mapping", 8, 1).terms
    write = 0.02 + 1e-5 * 1000
    assert t["start_s"] == 1.0 and t["plan_s"] == 0.5 and t["expand_s"] == 0.25
    assert t["wait_s"] == pytest.approx(8 * 1.0)
    assert t["write_s"] == pytest.approx(8 * write)
    assert t["task_overhead_s"] == pytest.approx(8 * 0.4)
    assert t["gaps_s"] == pytest.approx(7 * 0.1)
    assert t["cpu_contention_s"] == 0  # one task at a time: its CPU (0.2 s) fits in its wall time
    assert t["queueing_passes_s"] == 0


def test_fewer_partitions_than_slots_make_one_wave():
    prediction = predict("dynamic_mapping", 3, 8)
    assert prediction.details["waves"] == 1 and prediction.details["concurrency"] == 3
    assert prediction.terms["gaps_s"] == 0
    assert prediction.terms["wait_s"] == pytest.approx(1.0)
    assert predict("dynamic_mapping", 3, 8).makespan_s == pytest.approx(
        predict("dynamic_mapping", 3, 3).makespan_s
    )


def test_waves_take_p_instances_at_a_time():
    assert waves([1] * 5, 2) == [[1, 1], [1, 1], [1]]
    assert predict("dynamic_mapping", 16, 4).details["waves"] == 4
    assert predict("dynamic_mapping", 17, 4).details["waves"] == 5


def test_chunks_put_k_partitions_in_each_task_and_the_longest_sets_a_wave():
    assert task_sizes("chunked_mapping", 10, 4) == [4, 4, 2]
    assert task_sizes("chunked_mapping", 3, 8) == [3]
    assert task_sizes("sequential_loop", 10, 4) == [10]
    assert task_sizes("dynamic_mapping", 3, 4) == [1, 1, 1]
    chunked = predict("chunked_mapping", 10, 2, chunk=4)  # waves [4, 4], [2]
    assert chunked.details["waves"] == 2 and chunked.details["task_instances"] == 4
    assert chunked.terms["wait_s"] == pytest.approx(4 * 1.0 + 2 * 1.0)
    # Chunks of one partition are dynamic mapping.
    assert predict("chunked_mapping", 12, 4, chunk=1).makespan_s == pytest.approx(
        predict("dynamic_mapping", 12, 4).makespan_s
    )


def test_the_sequential_loop_ignores_p():
    loop = predict("sequential_loop", 10, 1)
    assert loop.makespan_s == pytest.approx(predict("sequential_loop", 10, 8).makespan_s)
    assert loop.makespan_s == pytest.approx(1.0 + 0.4 + 10 * (1.0 + 0.02 + 0.01))


def test_fewer_cores_than_slots_stretch_each_wave_to_its_cpu_seconds():
    # 8 tasks at once, each 0.2 s of Airflow CPU and 0.03 s of writing, on 2 free cores:
    # 8 x 0.23 / 2 = 0.92 s of CPU per wave against 0.43 s uncontended.
    prediction = predict("dynamic_mapping", 16, 8, cores=2)
    assert prediction.terms["cpu_contention_s"] == pytest.approx(2 * (8 * 0.23 / 2 - 0.43))
    assert predict("dynamic_mapping", 16, 8, cores=64).terms["cpu_contention_s"] == 0
    # Airflow's own CPU while a run is active is taken off the cores.
    busy = Overheads(**{**COSTS.as_dict(), "active_cores": 1.0})
    assert predict("dynamic_mapping", 16, 8, cores=2, costs=busy).terms["cpu_contention_s"] == pytest.approx(
        2 * (8 * 0.23 / 1 - 0.43)
    )
    # A sleep does not contend: latency adds the same with few cores as with many.
    slow, fast = (
        predict("dynamic_mapping", 16, 8, latency=2, cores=2),
        predict("dynamic_mapping", 16, 8, cores=2),
    )
    assert slow.makespan_s - fast.makespan_s == pytest.approx(2 * 1.0)


def test_backfills_pay_per_run_and_use_their_own_costs():
    one = predict("catchup_backfill", 10, 1)
    assert one.terms["start_s"] == pytest.approx(10 * 0.01 + 0.75)
    assert one.terms["task_overhead_s"] == pytest.approx(10 * 0.5)
    assert one.terms["gaps_s"] == pytest.approx(9 * 0.3)
    assert one.terms["plan_s"] == 0 and one.terms["expand_s"] == 0
    assert predict("partitioned_runs", 10, 1).makespan_s == pytest.approx(one.makespan_s)


def test_more_slots_than_one_pass_queues_cost_extra_passes():
    prediction = predict("dynamic_mapping", 80, 40)  # waves of 40 and 40: 3 passes each to queue 40
    assert prediction.terms["queueing_passes_s"] == pytest.approx(2 * 2 * 0.1)
    assert predict("dynamic_mapping", 32, 16).terms["queueing_passes_s"] == 0


@pytest.mark.parametrize(
    "args,message",
    [
        (("dynamic_mappin", 4, 2), "knows no strategy 'dynamic_mappin'"),
        (("dynamic_mapping", 0, 2), "partitions must be a whole number of at least 1"),
        (("dynamic_mapping", 4, 0), "parallelism must be"),
        (("dynamic_mapping", 4, 2.5), "parallelism must be"),
    ],
)
def test_bad_input_is_refused(args, message):
    with pytest.raises(ModelError, match=message):
        predict(*args)
    with pytest.raises(ModelError, match="latency_s"):
        predict("dynamic_mapping", 4, 2, latency=-1)
    with pytest.raises(ModelError, match="cores"):
        predict("dynamic_mapping", 4, 2, cores=0)


def test_overheads_from_a_calibration_name_what_is_missing():
    values = COSTS.as_dict()
    assert Overheads.from_dict({**values, "unknown_extra": 1}) == COSTS
    del values["task_cpu_s"]
    with pytest.raises(ModelError, match=r"lacks \['task_cpu_s'\].*lab bench calibrate"):
        Overheads.from_dict(values)


# ---------------------------------------------------------------- fits from trial records

T0 = pd.Timestamp("2024-06-01T12:00:00Z")


def _ti(task_id, map_index, queued, start, end, work=None, entered=None):
    at = lambda s: None if s is None else T0 + pd.Timedelta(seconds=s)  # noqa: E731
    return {
        "task_id": task_id,
        "map_index": map_index,
        "state": "success",
        "scheduled_when": at(queued),
        "queued_when": at(queued),
        "start_date": at(start),
        "end_date": at(end),
        "work_s": work,
        "entered_at": at(entered),
        "exited_at": at(None if entered is None else entered + (work or 0)),
    }


def _frame(rows):
    tis = pd.DataFrame(rows)
    for column in ("scheduled_when", "queued_when", "start_date", "end_date", "entered_at", "exited_at"):
        tis[column] = pd.to_datetime(tis[column], utc=True)
    return overhead.decompose(tis)


def test_a_mapping_trial_at_p1_gives_the_mapping_costs():
    tis = _frame(
        [
            _ti("plan", -1, 1.0, 1.1, 1.5),
            _ti("process", 0, 2.0, 2.1, 2.6, work=0.1, entered=2.3),  # held 0.6 s, 0.1 of it work
            _ti("process", 1, 2.8, 2.9, 3.4, work=0.1, entered=3.1),  # gap 0.2 after the first
            _ti("process", 2, 3.7, 3.8, 4.4, work=0.1, entered=4.0),  # gap 0.3; held 0.7 s
        ]
    )
    fitted = calibration.fit_mapping(tis, T0)
    assert fitted["trigger_s"] == pytest.approx(1.0)
    assert fitted["plan_s"] == pytest.approx(0.5)
    assert fitted["expand_s"] == pytest.approx(0.5)
    assert fitted["task_wall_s"] == pytest.approx((0.5 + 0.5 + 0.6) / 3)  # a chain adds up means
    assert fitted["slot_gap_s"] == pytest.approx(0.25)


def test_a_backfill_trial_at_p1_gives_the_run_costs():
    tis = _frame(
        [
            _ti("process_day", -1, 1.0, 1.1, 1.6, work=0.1, entered=1.3),
            _ti("process_day", -1, 2.0, 2.1, 2.6, work=0.1, entered=2.3),
        ]
    )
    answered = T0 + pd.Timedelta(seconds=0.2)
    fitted = calibration.fit_backfill(tis, T0, answered)
    assert fitted["run_create_s"] == pytest.approx(0.1)
    assert fitted["backfill_start_s"] == pytest.approx(0.8)
    assert fitted["run_task_wall_s"] == pytest.approx(0.5)
    assert fitted["run_gap_s"] == pytest.approx(0.4)
    assert calibration.run_cpu([(2, 3.0, 1.4), (2, 3.0, 1.2)], active_cores=0.2) == pytest.approx(0.35)


def test_airflow_cpu_splits_into_a_cost_per_task_and_a_rate_while_active():
    # CPU = 0.15 s per instance + 0.4 cores x seconds, in trials that mix the two differently.
    samples = [(n, wall, 0.15 * n + 0.4 * wall) for n, wall in ((9, 3.5), (2, 4.5), (9, 3.9), (2, 4.2))]
    fitted = calibration.fit_cpu(samples)
    assert fitted["task_cpu_s"] == pytest.approx(0.15) and fitted["active_cores"] == pytest.approx(0.4)
    with pytest.raises(calibration.CalibrationError, match="different instances per second"):
        calibration.fit_cpu([(2, 1.0, 1.0), (4, 2.0, 2.0)])


def test_the_write_cost_is_a_fixed_part_and_a_slope():
    fitted = calibration.fit_write([0.011, 0.010, 0.012], [0.511, 0.510, 0.512], rows=(1, 50_001))
    assert fitted["write_per_row_s"] == pytest.approx(1e-5)
    assert fitted["write_s"] == pytest.approx(0.011 - 1e-5)


# ---------------------------------------------------------------- lab bench predict


def _calibrated(tmp_path):
    saved = {"created_at": "20260101T000000Z", "cores": 2, "overheads": COSTS.as_dict()}
    calibration.save(saved, tmp_path)
    return tmp_path


def test_predict_prints_one_json_object_from_the_latest_calibration(tmp_path, capsys):
    where = _calibrated(tmp_path)
    args = ["bench", "predict", "--strategy", "dynamic_mapping", "--calibration", str(where)]
    params = ["-p", "partitions", "16", "-p", "parallelism", "8", "-p", "latency_s", "2", "-p", "rows", "500"]
    assert lab_main(args + params) == 0
    out = json.loads(capsys.readouterr().out)
    expected = makespan("dynamic_mapping", 16, 8, 2.0, 500, 2, 2, COSTS)
    assert out["strategy"] == "dynamic_mapping"
    assert out["makespan_s"] == pytest.approx(expected.makespan_s, abs=1e-3)
    assert set(out["terms"]) == set(expected.terms)
    assert out["parameters"]["events_per_partition"] == 500 and out["parameters"]["cores"] == 2
    assert out["calibration"] == "20260101T000000Z"
    # The file itself, and another core count.
    file = where / json.loads((where / calibration.LATEST).read_text())["calibration"]
    assert lab_main([*args[:-1], str(file), *params, "-p", "cores", "64"]) == 0
    assert json.loads(capsys.readouterr().out)["parameters"]["cores"] == 64


def test_predict_without_a_calibration_names_the_command_to_run(tmp_path, capsys):
    code = lab_main(
        ["bench", "predict", "--strategy", "dynamic_mapping", "--calibration", str(tmp_path)]
        + ["-p", "partitions", "4", "-p", "parallelism", "2", "-p", "latency_s", "0"]
    )
    err = capsys.readouterr().err.strip()
    assert code != 0 and len(err.splitlines()) == 1
    assert "no calibration" in err and "`lab bench calibrate`" in err


@pytest.mark.parametrize(
    "strategy,params,message",
    [
        ("no_such", ["partitions", "4", "parallelism", "2", "latency_s", "0"], "knows no strategy 'no_such'"),
        ("mapping_virtualenv_cached", ["partitions", "4", "parallelism", "2", "latency_s", "0"], "knows no"),
        ("dynamic_mapping", ["partitions", "0", "parallelism", "2", "latency_s", "0"], "partitions must be"),
        ("dynamic_mapping", ["partitions", "4", "parallelism", "0", "latency_s", "0"], "parallelism must be"),
        ("dynamic_mapping", ["partitions", "4", "parallelism", "2", "latency_s", "-1"], "latency_s"),
        ("dynamic_mapping", ["partitions", "4", "parallelism", "2"], "missing -p latency_s"),
        (
            "dynamic_mapping",
            ["partitions", "4", "parallelism", "2", "latency_s", "0", "speed", "9"],
            "unknown",
        ),
        (
            "chunked_mapping",
            ["partitions", "4", "parallelism", "2", "latency_s", "0", "chunk_size", "0"],
            "chunk",
        ),
        ("dynamic_mapping", ["partitions", "4", "parallelism", "2", "latency_s", "0", "cores", "0"], "cores"),
    ],
)
def test_predict_refuses_bad_input_in_one_line(tmp_path, capsys, strategy, params, message):
    where = _calibrated(tmp_path)
    pairs = [x for i in range(0, len(params), 2) for x in ("-p", params[i], params[i + 1])]
    code = lab_main(["bench", "predict", "--strategy", strategy, "--calibration", str(where), *pairs])
    captured = capsys.readouterr()
    assert code != 0 and captured.out == ""
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1


def test_a_damaged_calibration_is_reported_not_used(tmp_path, capsys):
    where = _calibrated(tmp_path)
    file = where / json.loads((where / calibration.LATEST).read_text())["calibration"]
    file.write_text(json.dumps({"created_at": "x", "overheads": {"trigger_s": 1}}))
    code = lab_main(
        ["bench", "predict", "--strategy", "dynamic_mapping", "--calibration", str(where)]
        + ["-p", "partitions", "4", "-p", "parallelism", "2", "-p", "latency_s", "0"]
    )
    assert code != 0 and "lab bench calibrate" in capsys.readouterr().err


def test_validation_grid_runs_the_loop_once_per_size_and_latency():
    from lab.bench.validation import grid

    points = grid((4, 16), (1, 4), (0.0,), ("sequential_loop", "dynamic_mapping"))
    loops = [p for p in points if p["strategy"] == "sequential_loop"]
    assert len(loops) == 2 and {p["parallelism"] for p in loops} == {1}
    assert len(points) == 2 + 4
