"""The cost model beyond one machine (`lab.bench.model.Deployment`) and `lab bench predict`'s
deployment parameters, the Celery hand-off file and Airflow's max_map_length: no Airflow needed."""

import json
from dataclasses import replace

import pytest

from lab.bench import calibration, celery_check
from lab.bench.model import LOCAL, MODELLED, Deployment, ModelError, makespan
from lab.bench.model_cli import MAX_PARTITIONS, prediction_params
from lab.cli import main as lab_main
from tests.helpers import model_costs

COSTS = replace(model_costs(), active_cores=0.5, handoff_s=0.05, worker_cpu_share=0.5)


def celery(workers=2, slots=2, **kwargs):
    return Deployment(executor="celery", workers=workers, worker_slots=slots, **kwargs)


def predict(strategy, n, p, latency=1.0, events=1000, chunk=4, cores=2, deployment=None, costs=COSTS):
    return makespan(strategy, n, p, latency, events, chunk, cores, costs, deployment)


@pytest.mark.parametrize("strategy", MODELLED)
@pytest.mark.parametrize(
    "deployment",
    [celery(), celery(8, 16, colocated=False, worker_cores=4), celery(3, 5, colocated=False, handoff_s=0.3)],
)
def test_terms_add_up_to_the_makespan_on_any_deployment(strategy, deployment):
    prediction = predict(strategy, 200, 64, deployment=deployment)
    assert prediction.makespan_s == pytest.approx(sum(prediction.terms.values()))
    assert all(v >= 0 for v in prediction.terms.values())
    assert prediction.details["deployment"]["workers"] == deployment.workers


def test_the_default_deployment_is_the_local_executor_unchanged():
    assert predict("dynamic_mapping", 16, 8, deployment=LOCAL) == predict("dynamic_mapping", 16, 8)
    assert "deployment" not in predict("dynamic_mapping", 16, 8).details


def test_w_workers_x_s_slots_cap_the_concurrency_below_the_pool():
    capped = predict("dynamic_mapping", 16, 8, deployment=celery(2, 2))  # 4 slots under a pool of 8
    assert capped.details["concurrency"] == 4 and capped.details["waves"] == 4
    # co-located, with the local hand-off: exactly the pool of 4 on one machine
    assert capped.makespan_s == pytest.approx(predict("dynamic_mapping", 16, 4).makespan_s)
    roomy = predict("dynamic_mapping", 16, 8, deployment=celery(4, 16))  # 64 slots: the pool caps
    assert roomy.details["concurrency"] == 8 and roomy.details["waves"] == 2


def test_more_workers_never_predict_slower_for_a_cpu_bound_wave():
    heavy = {"latency": 0.0, "events": 200_000}  # 2 s of CPU per partition
    times = [
        predict(
            "dynamic_mapping", 256, 64, deployment=celery(w, 4, colocated=False, worker_cores=2), **heavy
        ).makespan_s
        for w in (1, 2, 3, 4, 8, 16, 32)
    ]
    assert times == sorted(times, reverse=True)
    assert times[0] > 2 * times[-1]  # and the cores they bring are used


def test_colocated_workers_share_one_machine_and_separate_ones_bring_their_own_cores():
    heavy = {"latency": 0.0, "events": 100_000}
    shared = predict("dynamic_mapping", 16, 8, deployment=celery(4, 2), cores=2, **heavy)
    spread = predict("dynamic_mapping", 16, 8, deployment=celery(4, 2, colocated=False), cores=2, **heavy)
    assert shared.details["free_cores"] == 1.5  # 2 cores less Airflow's own loop (0.5)
    assert spread.details["free_cores"] == 2  # each worker's own 2 cores; the scheduler is elsewhere
    assert shared.terms["cpu_contention_s"] > spread.terms["cpu_contention_s"]
    assert shared.makespan_s > spread.makespan_s
    more = predict(
        "dynamic_mapping", 16, 8, deployment=celery(4, 2, colocated=False, worker_cores=8), cores=2, **heavy
    )
    assert more.details["free_cores"] == 8 and more.terms["cpu_contention_s"] == 0


def test_separate_workers_carry_only_their_share_of_airflows_per_task_cpu():
    d = celery(1, 8, colocated=False, worker_cores=1)
    wave = [1] * 8
    assert d.wave_cpu_s(wave, task_cpu=0.2, write=0.0, share=0.5) == pytest.approx(0.8)
    assert d.wave_cpu_s(wave, task_cpu=0.2, write=0.0, share=None) == pytest.approx(1.6)  # an upper bound
    # two workers: the busiest gets half of the instances, the largest first
    assert celery(2, 8, colocated=False).wave_cpu_s([4, 3, 2, 1], 0.0, 1.0, None) == pytest.approx(4 + 2)


def test_the_celery_hand_off_replaces_the_calibrated_one():
    local = predict("dynamic_mapping", 8, 1)
    slow = predict("dynamic_mapping", 8, 1, deployment=celery(1, 1, handoff_s=0.55))
    assert slow.details["task_wall_s"] == pytest.approx(0.4 - 0.05 + 0.55)
    assert slow.terms["task_overhead_s"] - local.terms["task_overhead_s"] == pytest.approx(8 * 0.5)
    backfill = predict("catchup_backfill", 8, 1, deployment=celery(1, 1, handoff_s=0.55))
    assert backfill.details["task_wall_s"] == pytest.approx(0.5 - 0.05 + 0.55)
    with pytest.raises(ModelError, match="no handoff_s"):
        predict(
            "dynamic_mapping", 8, 1, deployment=celery(handoff_s=0.5), costs=replace(COSTS, handoff_s=None)
        )


def test_a_map_beyond_max_map_length_is_refused_and_points_at_chunks():
    assert predict("dynamic_mapping", 1024, 8).details["task_instances"] == 1025  # the limit itself is fine
    with pytest.raises(ModelError, match=r"beyond \[core\] max_map_length \(1024\).*chunked_mapping"):
        predict("dynamic_mapping", 1025, 8)
    with pytest.raises(ModelError, match="chunks of at least 5 partitions"):
        predict("chunked_mapping", 5000, 8, chunk=4)  # 1250 chunks
    assert predict("chunked_mapping", 5000, 8, chunk=5).details["task_instances"] == 1001
    raised = Deployment(max_map_length=5000)  # [core] max_map_length raised: the map is allowed
    assert predict("dynamic_mapping", 5000, 8, deployment=raised).details["task_instances"] == 5001
    assert predict("catchup_backfill", 5000, 8).details["task_instances"] == 5000  # runs, not a map


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"executor": "kubernetes"}, "executor must be one of local, celery"),
        ({"executor": "celery", "workers": 0}, "workers must be"),
        ({"executor": "celery", "worker_slots": 1.5}, "worker_slots must be"),
        ({"executor": "celery", "worker_cores": 0}, "worker_cores must be"),
        ({"executor": "celery", "colocated": "yes"}, "colocated must be"),
        ({"executor": "celery", "handoff_s": -1}, "handoff_s must be"),
        ({"max_map_length": 0}, "max_map_length must be"),
        ({"workers": 4}, "distributed executor"),
    ],
)
def test_a_bad_deployment_is_refused(kwargs, message):
    with pytest.raises(ModelError, match=message):
        Deployment(**kwargs)


# ---------------------------------------------------------------- the calibration's executor terms


def _mapping_row(queue_wait, tasks, executor, others, window):
    row = {"strategy": "dynamic_mapping", "partitions": 8, "parallelism": 1, "latency_s": 0.0}
    parts = {"scheduler": others, "executor": executor, "tasks": tasks, "api_server": 0.0}
    parts.update(dag_processor=0.0, triggerer=0.0)
    return {**row, "queue_wait_mean_s": queue_wait, "cpu_window_s": window} | {
        f"cpu_{k}_s": v for k, v in parts.items()
    }


def test_the_hand_off_and_the_workers_cpu_share_come_from_the_mapping_trials():
    rows = [_mapping_row(0.02, 1.0, 0.2, 1.3, 2.0), _mapping_row(0.04, 1.0, 0.2, 1.3, 2.0)]
    rows.append({"strategy": "catchup_backfill", "partitions": 8, "parallelism": 1, "latency_s": 0.0})
    terms = calibration.executor_terms(rows, active_cores=0.25)
    assert terms["handoff_s"] == pytest.approx(0.03)
    assert terms["worker_cpu_share"] == pytest.approx(1.2 / (2.5 - 0.5))
    assert calibration.executor_terms([], 0.1) == {}


def test_an_older_calibration_gets_its_executor_terms_from_its_saved_trials(tmp_path):
    old = {k: v for k, v in COSTS.as_dict().items() if k not in ("handoff_s", "worker_cpu_share")}
    saved = {"created_at": "20260101T000000Z", "cores": 2, "overheads": old}
    calibration.save({**saved, "trials": [_mapping_row(0.02, 1.0, 0.2, 1.3, 2.0)]}, tmp_path)
    _, overheads = calibration.load(tmp_path)
    assert overheads.handoff_s == 0.02 and overheads.worker_cpu_share == pytest.approx(1.2 / (2.5 - 0.5 * 2))


# ---------------------------------------------------------------- lab bench predict


def _calibrated(tmp_path):
    calibration.save({"created_at": "20260101T000000Z", "cores": 2, "overheads": COSTS.as_dict()}, tmp_path)
    return tmp_path


def _predict(where, strategy, *pairs, extra=()):
    flat = [x for i in range(0, len(pairs), 2) for x in ("-p", pairs[i], str(pairs[i + 1]))]
    return lab_main(["bench", "predict", "--strategy", strategy, "--calibration", str(where), *extra, *flat])


def test_predict_on_celery_workers_prints_the_deployment_and_its_terms(tmp_path, capsys):
    where = _calibrated(tmp_path)
    point = ("partitions", 5000, "parallelism", 128, "latency_s", 2, "chunk_size", 8)
    deployment = ("executor", "celery", "workers", 8, "worker_slots", 16, "worker_cores", 8, "handoff_s", 0.3)
    no_measurement = ["--celery-handoff", str(tmp_path)]  # handoff_s given, no release measured
    assert _predict(where, "chunked_mapping", *point, *deployment, extra=no_measurement) == 0
    out = json.loads(capsys.readouterr().out)
    expected = makespan(
        "chunked_mapping", 5000, 128, 2.0, 1000, 8, 2, COSTS,
        Deployment("celery", 8, 16, worker_cores=8, colocated=False, handoff_s=0.3),
    )  # fmt: skip
    assert out["makespan_s"] == pytest.approx(expected.makespan_s, abs=1e-3)
    assert out["parameters"]["deployment"] == {
        "executor": "celery", "workers": 8, "worker_slots": 16, "worker_cores": 8,
        "colocated": False, "handoff_s": 0.3, "release_s": None, "max_map_length": 1024,
    }  # fmt: skip
    assert out["details"]["concurrency"] == 128 and "deployment" not in out["details"]
    assert any("[core] parallelism" in note for note in out["notes"])  # P = 128 > its default 32


def test_predict_takes_the_celery_hand_off_from_the_latest_measurement(tmp_path, capsys):
    where = _calibrated(tmp_path)
    point = ("partitions", 16, "parallelism", 8, "latency_s", 0.5, "executor", "celery", "workers", 2)
    measured = ["--celery-handoff", str(tmp_path)]
    assert _predict(where, "dynamic_mapping", *point, extra=measured) != 0
    err = capsys.readouterr().err
    assert "no Celery hand-off" in err and "make bench-celery" in err and len(err.strip().splitlines()) == 1
    # handoff_s given: the slot release is then not modelled
    assert _predict(where, "dynamic_mapping", *point, "handoff_s", 0.3, extra=measured) == 0
    assert json.loads(capsys.readouterr().out)["parameters"]["deployment"]["release_s"] is None
    celery_check.save({"created_at": "20260101T000001Z", "handoff_s": 0.45, "release_s": 1.5}, tmp_path)
    assert _predict(where, "dynamic_mapping", *point, extra=measured) == 0
    deployment = json.loads(capsys.readouterr().out)["parameters"]["deployment"]
    assert deployment["handoff_s"] == 0.45 and deployment["release_s"] == 1.5
    assert deployment["worker_slots"] == 16 and deployment["colocated"] is False  # Celery's defaults


@pytest.mark.parametrize(
    "strategy,pairs,message",
    [
        ("dynamic_mapping", ("partitions", 5000), "max_map_length (1024)"),
        ("dynamic_mapping", ("partitions", MAX_PARTITIONS + 1), f"from 1 to {MAX_PARTITIONS}"),
        ("dynamic_mapping", ("parallelism", 5000), "parallelism must be a whole number from 1 to 4096"),
        ("dynamic_mapping", ("workers", 2), "add -p executor celery"),
        ("dynamic_mapping", ("executor", "celery", "handoff_s", 0.1), "needs -p workers"),
        ("dynamic_mapping", ("executor", "yarn"), "executor must be one of"),
        ("dynamic_mapping", ("executor", "celery", "workers", 0, "handoff_s", 0.1), "workers must be"),
        ("chunked_mapping", ("partitions", 5000, "chunk_size", 2), "chunks of at least 5"),
    ],
)
def test_predict_refuses_bad_deployments_in_one_line(tmp_path, capsys, strategy, pairs, message):
    where = _calibrated(tmp_path)
    base = {"partitions": 16, "parallelism": 8, "latency_s": 0.5}
    base.update(dict(zip(pairs[::2], pairs[1::2], strict=True)))
    code = _predict(where, strategy, *[x for kv in base.items() for x in kv])
    captured = capsys.readouterr()
    assert code != 0 and captured.out == ""
    assert message in captured.err and len(captured.err.strip().splitlines()) == 1


def test_on_paper_n_goes_beyond_the_benchmark_window_but_a_measured_trial_does_not():
    pairs = [("partitions", "3000"), ("parallelism", "8"), ("latency_s", "1"), ("chunk_size", "8")]
    assert prediction_params("chunked_mapping", pairs, 2)["partitions"] == 3000
    with pytest.raises(ValueError, match="partitions must be a whole number from 1 to 1024"):
        prediction_params("chunked_mapping", pairs, 2, measured=True)
    with pytest.raises(ValueError, match="unknown parameter"):  # a measured trial runs where it runs
        prediction_params(
            "chunked_mapping", [*pairs[1:], ("partitions", "8"), ("workers", "2")], 2, measured=True
        )


def test_when_the_workers_slots_are_the_cap_a_released_slot_replaces_the_scheduler_pass():
    d = celery(2, 2, handoff_s=0.3, release_s=1.0)  # 4 slots
    bound = predict("dynamic_mapping", 16, 8, deployment=d)
    wall = 0.4 - 0.05 + 0.3
    assert bound.terms["gaps_s"] == pytest.approx(3 * 1.0)  # 4 waves: 3 releases, no scheduler pass
    assert bound.terms["task_overhead_s"] == pytest.approx(wall + 3 * (wall - 0.3))  # hand-off once
    assert predict("dynamic_mapping", 16, 4, deployment=d).terms["gaps_s"] == pytest.approx(3.0)  # W x S = P
    roomy = predict("dynamic_mapping", 16, 2, deployment=d)  # the pool (2) caps, 4 slots: as before
    assert roomy.terms["gaps_s"] == pytest.approx(7 * 0.1)
    assert roomy.terms["task_overhead_s"] == pytest.approx(8 * wall)
    unknown = predict("dynamic_mapping", 16, 8, deployment=celery(2, 2, handoff_s=0.3))
    assert unknown.terms["gaps_s"] == pytest.approx(3 * 0.1)  # release not measured: not modelled


def test_a_worker_slots_release_is_read_from_each_workers_starts_and_ends():
    import pandas as pd

    def ts(s):
        return pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(seconds=s)

    rows = [  # worker a, 2 slots: the third task starts 0.5 s after the first one ended
        ("a", 0.0, 1.0), ("a", 0.1, 2.0), ("a", 1.5, 2.5), ("a", 2.1, 3.0),
        ("b", 0.0, 1.0), ("b", 3.0, 4.0),  # worker b never had both slots busy
        (None, 0.0, 9.0),  # no hostname: not a worker's task (left out)
    ]  # fmt: skip
    tis = pd.DataFrame([{"hostname": h, "start_date": ts(s), "end_date": ts(e)} for h, s, e in rows])
    assert celery_check.slot_reuse_s(tis, 2) == pytest.approx([0.5, 0.1])
    assert celery_check.slot_reuse_s(tis, 1) == pytest.approx([0.0, 0.0, 0.0, 2.0])  # overlaps: 0
