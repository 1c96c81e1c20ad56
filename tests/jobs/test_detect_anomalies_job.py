"""jobs/detect_anomalies.py: bad arguments exit 2 naming the flag (the entrypoint's main, in
this process); on the shared insight chain (planted anomalies), the job as its image runs it
trains the Isolation Forests measured on the planted truth, registers them, scores the
chain's last day into ml_anomalies, and a re-run of the day replaces its rows.

The training is measured on the last ``eval_days`` before the day (the forests fitted on the
days before them): the model must beat the robust z-score baseline on recall at top-k over
all kinds, and find each kind at least once."""

from __future__ import annotations

import json
import time
import uuid
from types import SimpleNamespace

import pytest

from retail.io.warehouse import connect
from retail.ml.anomalies.registered import BASELINE, MODEL
from retail.ml.registry import Registry
from retail.transforms.anomaly_signals import KINDS
from tests.jobs.jobrun import load_job

JOB = "detect_anomalies"
TOP_K = 5


@pytest.mark.parametrize("args, names", [
    (["--date", "2026-02-30"], "--date"),
    (["--date", "20260301"], "--date"),
    (["--task", "predict"], "--task"),
    (["--labels", "/nonexistent/labels.parquet"], "--labels"),
    (["--task", "score", "--labels", __file__], "--labels goes with --task train or all"),
])
def test_bad_arguments_exit_2_naming_the_flag(args, names, capsys):
    with pytest.raises(SystemExit) as exited:
        load_job(JOB).main(args)
    stderr = capsys.readouterr().err
    assert exited.value.code == 2, stderr
    assert names in stderr and stderr.startswith(JOB), stderr


def _windows(chain) -> dict[str, str]:
    """The training's windows within the chain: a week of history before the fit, the
    evaluation on the last third at most two weeks."""
    days = (chain.end - chain.start).days
    eval_days = min(14, days // 3)
    return {"RETAIL_ANOMALIES__EVAL_DAYS": str(eval_days),
            "RETAIL_ANOMALIES__TRAIN_DAYS": str(min(28, days - eval_days - 7)),
            "RETAIL_ANOMALIES__TOP_K": str(TOP_K),
            "RETAIL_ANOMALIES__N_ESTIMATORS": "100"}


@pytest.fixture(scope="module")
def ran(insight_chain, mlflow_server):
    """The job's ``main`` (the image's entrypoint) in this process: a second JVM start per
    run cost about 25 s each."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    env = {**insight_chain.env, "RETAIL_MLFLOW__TRACKING_URI": mlflow_server,
           "RETAIL_MLFLOW__PREFIX": prefix, **_windows(insight_chain)}
    day = insight_chain.end
    labels = insight_chain.truth_dir / "planted_anomalies.parquet"
    with pytest.MonkeyPatch.context() as mp, connect(insight_chain.settings) as wh:
        for key, value in env.items():
            mp.setenv(key, value)
        clock = time.perf_counter()
        first = load_job(JOB).main(["--date", str(day), "--labels", str(labels)])
        print(f"detect_anomalies --task all: {time.perf_counter() - clock:.1f} s")
        yield SimpleNamespace(first=first, day=day, wh=wh, mp=mp,
                              registry=Registry(mlflow_server, prefix))


def _rows(wh, day, version):
    return wh.query_rows(
        "SELECT store_id, product_id, rank, kind, score, detected_at FROM ml_anomalies FINAL "
        "WHERE date = {d:Date} AND model_version = {v:String} ORDER BY store_id, rank",
        {"d": day, "v": version})


@pytest.mark.integration
def test_the_forests_beat_the_z_score_baseline_and_find_every_kind(ran):
    assert ran.first == 0
    champion = ran.registry.champion(MODEL)
    assert champion is not None and champion.tags["promotion.reason"] == "no champion yet"
    m = champion.metrics
    assert m["labelled_days"] > 0 and m["flagged"] > 0
    assert m["recall"] > m[f"baseline.{BASELINE}.recall"], m
    found = {kind: m.get(f"hits.{kind}", 0) for kind in KINDS}
    assert all(hits >= 1 for hits in found.values()), found


@pytest.mark.integration
def test_the_day_gets_the_top_k_of_each_store_and_a_rerun_replaces_them(ran):
    assert ran.first == 0
    version = ran.registry.champion(MODEL).version
    rows = _rows(ran.wh, ran.day, version)
    stores = {r[0] for r in rows}
    assert stores and all(sum(r[0] == s for r in rows) == TOP_K for s in stores)
    assert {r[3] for r in rows} <= set(KINDS) and all(0 < r[4] <= 1 for r in rows)
    runs = ran.wh.query_rows(
        "SELECT status, rows_out, details FROM job_runs FINAL WHERE job = {j:String} "
        "AND status = 'succeeded'", {"j": JOB})
    assert any(json.loads(d)["scored"]["rows"] == len(rows) == n for _, n, d in runs)

    assert load_job(JOB).main(["--date", str(ran.day), "--task", "score"]) == 0
    replaced = _rows(ran.wh, ran.day, version)
    assert [r[:5] for r in replaced] == [r[:5] for r in rows]  # the same anomalies, once
    assert min(r[5] for r in replaced) > max(r[5] for r in rows)  # written again
