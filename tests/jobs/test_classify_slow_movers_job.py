"""jobs/classify_slow_movers.py through its entrypoint's main, on the shared insight chain
and a real MLflow server: ``--task all`` trains (the time-based evaluation against the rule
"days of cover > horizon"), registers, promotes (no champion yet) and writes
``ml_slow_movers`` with a ``job_runs`` row; ``--task score`` again replaces the same rows
(same run date and model version); the run's figures and evaluated rows are checked against
the rule and the simulator's planted fades; a bad ``--date`` or ``--task`` exits 2 naming
it. One training for the whole module (the test budget)."""

from __future__ import annotations

import time
import uuid

import pytest

import pandas as pd

from retail.io.warehouse import connect
from retail.ml.registry import CHAMPION, Registry
from retail.ml.slow_movers.metrics import fade_enrichment
from tests.jobs.jobrun import load_job

pytestmark = pytest.mark.integration
# the chain has weekly feature days over its last four weeks: 7-day label windows leave two
# training origins before the two evaluated ones (the default forest otherwise)
CHAIN = {"RETAIL_SLOW_MOVERS__LABEL_DAYS": "7"}


@pytest.mark.parametrize("args, names", [
    (["--date", "2026-02-30"], "--date"),
    (["--date", "20260310"], "--date"),
    (["--task", "predict"], "--task"),
])
def test_bad_arguments_exit_2_naming_the_flag(args, names, capsys):
    with pytest.raises(SystemExit) as exited:
        load_job("classify_slow_movers").main(args)
    stderr = capsys.readouterr().err
    assert exited.value.code == 2, stderr
    assert names in stderr and stderr.startswith("classify_slow_movers"), stderr


@pytest.fixture(scope="module")
def ran(insight_chain, mlflow_server, tmp_path_factory):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    day = str(insight_chain.feature_days[-1])
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as mp, connect(insight_chain.settings) as wh:
        for key, value in {**insight_chain.env, **CHAIN,
                           "RETAIL_MLFLOW__TRACKING_URI": mlflow_server,
                           "RETAIL_MLFLOW__PREFIX": prefix}.items():
            mp.setenv(key, value)
        job = load_job("classify_slow_movers")
        first = job.main(["--date", day, "--task", "all"])
        rows = table(wh, day)
        again = job.main(["--date", day, "--task", "score"])
        registry = Registry(mlflow_server, prefix)
        champion = registry.champion("slow_movers")
        evaluated = pd.read_parquet(registry.download(
            champion, "slow_movers/evaluation.parquet", tmp_path_factory.mktemp("sm")))
        print(f"slow movers: the two job runs took {time.monotonic() - started:.1f} s")
        yield {"codes": (first, again), "rows": rows, "again": table(wh, day), "day": day,
               "registry": registry, "champion": champion, "evaluated": evaluated,
               "runs": wh.query_rows(
                   "SELECT status, rows_out FROM job_runs FINAL "
                   "WHERE job = 'classify_slow_movers' AND details LIKE {d:String} "
                   "ORDER BY started_at", {"d": f"%{day}%"})}


def table(wh, day: str) -> list[tuple]:
    """The run date's rows, exactly (FINAL), ordered."""
    return wh.query_rows(
        "SELECT store_id, product_id, model_version, probability, is_slow_mover, on_hand, "
        "horizon_days, markdown_depth, markdown_start FROM ml_slow_movers FINAL "
        "WHERE run_date = {d:Date} ORDER BY store_id, product_id, model_version", {"d": day})


def test_the_job_trains_promotes_and_writes_a_row_per_stocked_pair(ran, insight_chain):
    assert ran["codes"] == (0, 0)
    champion = ran["registry"].champion("slow_movers")
    assert champion is not None and CHAMPION in champion.aliases
    assert {"pr_auc", "baseline.days_of_cover_rule.pr_auc"} <= set(champion.metrics)
    with connect(insight_chain.settings) as wh:
        stocked = wh.query_rows("SELECT count() FROM feature_store_daily FINAL "
                                "WHERE date = {d:Date} AND on_hand > 0", {"d": ran["day"]})
    assert len(ran["rows"]) == stocked[0][0] > 0
    assert {r[2] for r in ran["rows"]} == {champion.version}
    flagged = [r for r in ran["rows"] if r[4]]
    assert all(0 < r[7] <= 0.5 and str(r[8]) == ran["day"] for r in flagged)
    assert all(r[7] == 0 and r[8] is None for r in ran["rows"] if not r[4])
    assert [r[:2] for r in ran["runs"]] == [("succeeded", len(ran["rows"]))] * 2


def test_a_rerun_replaces_the_rows(ran):
    assert ran["again"] == ran["rows"]


def test_the_evaluation_is_by_time_on_the_newest_origins(ran, insight_chain):
    params = ran["champion"].params
    train = sorted(params["train_origins"].split(","))
    held = sorted(params["eval_origins"].split(","))
    days = [str(d) for d in insight_chain.feature_days]
    assert train and held and train[-1] < held[0]
    # labelled: the window of 7 days observed by the run date (the newest feature day)
    assert held == [d for d in days if d <= days[-2]][-2:]
    assert sorted(set(ran["evaluated"]["date"].astype(str))) == held


def test_the_forest_beats_the_days_of_cover_rule(ran):
    metrics = ran["champion"].metrics
    positives = ran["evaluated"]["label"].mean()
    assert 0 < positives < 1, "the evaluation window needs both classes"
    assert metrics["pr_auc"] > metrics["baseline.days_of_cover_rule.pr_auc"], metrics
    assert metrics["pr_auc"] > positives  # better than ranking at random


def test_slow_movers_concentrate_in_the_planted_fades(ran, insight_chain):
    """The label is checked on the planted truth: rows of products whose demand faded by
    their day are slow far more often than the others. (The flags' enrichment is measured,
    docs/slow_movers.md, not asserted: see there why the forest does not reach it on this
    chain.)"""
    fades = insight_chain.sim.planted.fades().to_pandas()
    evaluated = ran["evaluated"].assign(slow=ran["evaluated"]["label"] > 0.5)
    truth = fade_enrichment(evaluated, fades, flag="slow")
    assert truth["faded_share"] > 0, "no faded product in the evaluation window"
    assert truth["enrichment"] > 1.3, truth
    print("figures:", {k: round(v, 4) for k, v in ran["champion"].metrics.items()
                       if not k.startswith("promotion")})
    print("fades:", {"label": truth,
                     "forest": fade_enrichment(evaluated, fades, flag="flag"),
                     "rule": fade_enrichment(evaluated, fades, flag="rule_flag")})
