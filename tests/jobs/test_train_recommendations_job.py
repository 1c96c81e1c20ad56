"""jobs/train_recommendations.py on the shared insight chain, run as its image runs it: one
``--task all`` (train, register, promote, score) and one ``--task score`` re-run (each by
the entrypoint's ``main``, in this process) of the same
date; ALS beats the popularity baseline on the held-out last baskets, the planted complement
pairs are found among the affinities, both tables are written and the re-run replaces its
rows. Bad arguments exit 2 naming the flag."""

from __future__ import annotations

import uuid

import pytest

from retail.io.warehouse import connect
from retail.ml.recommendations.evaluation import pair_recovery
from retail.ml.registry import Registry
from tests.jobs.jobrun import job_env, load_job, run_job
from tests.pkg.transforms.conftest import spark  # noqa: F401

pytestmark = pytest.mark.integration

JOB = "train_recommendations"
# the share of the planted (anchor, partner) pairs FPGrowth must find in the anchor's top 10
# affinities (measured 26 of 30, 0.87, on the insight chain; docs/recommendations.md)
MIN_PAIR_SHARE = 0.8


@pytest.mark.parametrize("args, names", [
    (["--date", "2026-02-30"], "--date"),
    (["--date", "20261018"], "--date"),
    (["--task", "fit"], "--task"),
])
def test_bad_arguments_exit_2_naming_the_flag(args, names, capsys):
    with pytest.raises(SystemExit) as exited:
        load_job(JOB).main(args)
    stderr = capsys.readouterr().err
    assert exited.value.code == 2, stderr
    assert names in stderr and stderr.startswith(JOB), stderr


def test_a_bad_setting_exits_2_naming_the_variable():
    done = run_job(JOB, "--date", "2026-10-18",
                   env=job_env(RETAIL_RECOMMENDATIONS__TOP_N="0"))
    assert done.returncode == 2, done.stderr
    assert "RETAIL_RECOMMENDATIONS__TOP_N" in done.stderr, done.stderr


@pytest.fixture(scope="module")
def trained(insight_chain, mlflow_server):
    """The job's ``main`` (the image's entrypoint) in this process: a JVM start of its own
    per run cost about 25 s each."""
    prefix = f"rec{uuid.uuid4().hex[:8]}"
    env = {**insight_chain.env, "RETAIL_MLFLOW__TRACKING_URI": mlflow_server,
           "RETAIL_MLFLOW__PREFIX": prefix, "RETAIL_RECOMMENDATIONS__WINDOW_DAYS": "49",
           # the small chain's own set (docs/recommendations.md, "Tuning": 1.31x there):
           # the default rank 64 (1.35x) trains in twice the time, past this budget
           "RETAIL_RECOMMENDATIONS__RANK": "16", "RETAIL_RECOMMENDATIONS__REG_PARAM": "0.1",
           "RETAIL_RECOMMENDATIONS__ALPHA": "1"}
    day = str(insight_chain.end)
    with pytest.MonkeyPatch.context() as mp, connect(insight_chain.settings) as wh:
        for key, value in env.items():
            mp.setenv(key, value)
        assert load_job(JOB).main(["--date", day]) == 0
        yield {"day": day, "wh": wh, "registry": Registry(mlflow_server, prefix)}


def test_als_beats_popularity_on_the_held_out_last_baskets(trained):
    champion = trained["registry"].champion("recommendations")
    assert champion is not None and champion.version == "1"
    als = champion.metrics["recall_at_10"]
    popularity = champion.metrics["baseline.popularity.recall_at_10"]
    print(f"recall@10: ALS {als:.3f}, popularity {popularity:.3f} "
          f"({champion.metrics['recall_at_10_to_popularity']:.2f}x); precision@10: ALS "
          f"{champion.metrics['precision_at_10']:.3f}, popularity "
          f"{champion.metrics['baseline.popularity.precision_at_10']:.3f}")
    assert als > popularity
    assert champion.metrics["judged_customers"] > 100


def test_both_tables_are_written_for_the_date_and_version(trained):
    wh, day = trained["wh"], trained["day"]
    kinds = dict(((k, r), n) for k, r, n in wh.query_rows(
        "SELECT kind, reason, count() FROM ml_recommendations FINAL WHERE run_date = "
        "{d:Date} AND model_version = '1' GROUP BY kind, reason", {"d": day}))
    assert kinds[("customer", "als")] > 1000
    assert kinds.get(("store", "not_stocked"), 0) + kinds.get(("store", "under_ordered"), 0) > 0
    per_customer = wh.query_rows(
        "SELECT max(c), countIf(store_id = '') FROM (SELECT customer_id, store_id, count() "
        "AS c FROM ml_recommendations FINAL WHERE kind = 'customer' AND run_date = {d:Date} "
        "GROUP BY customer_id, store_id)", {"d": day})[0]
    assert per_customer == (10, 0)
    methods = dict(wh.query_rows(
        "SELECT method, count() FROM ml_product_affinity FINAL WHERE run_date = {d:Date} "
        "GROUP BY method", {"d": day}))
    assert set(methods) == {"fpgrowth", "item_factors"}


def test_the_planted_complement_pairs_are_found_among_the_top_10_affinities(
        trained, insight_chain, spark):
    rows = trained["wh"].query_arrow(
        "SELECT method, product_id, other_product_id, toInt32(rank) AS rank FROM "
        "ml_product_affinity FINAL WHERE run_date = {d:Date}", {"d": trained["day"]})
    affinity = spark.createDataFrame(rows.to_pandas())
    planted = insight_chain.sim.planted.affinities()
    found = {m: pair_recovery(affinity.filter(affinity.method == m), planted)
             for m in ("fpgrowth", "item_factors")}
    print("planted pairs found in the top 10:", found)
    assert found["fpgrowth"]["share"] >= MIN_PAIR_SHARE
    assert found["fpgrowth"]["share"] >= found["item_factors"]["share"]


def test_a_rerun_of_the_same_date_replaces_its_rows(trained):
    wh, day = trained["wh"], trained["day"]
    count = ("SELECT count() FROM {t:Identifier} FINAL WHERE run_date = {d:Date} AND "
             "model_version = '1'")
    before = {t: wh.query_rows(count, {"t": t, "d": day})[0][0]
              for t in ("ml_recommendations", "ml_product_affinity")}
    assert load_job(JOB).main(["--date", day, "--task", "score"]) == 0
    after = {t: wh.query_rows(count, {"t": t, "d": day})[0][0] for t in before}
    assert after == before
    # it did write again: as many rows as the tables hold for the date and version
    runs = wh.query_rows("SELECT status, rows_out FROM job_runs FINAL WHERE job = {j:String} "
                         "ORDER BY started_at", {"j": JOB})
    assert [r[0] for r in runs][-2:] == ["succeeded", "succeeded"]
    assert runs[-1][1] == sum(after.values()) > 0
