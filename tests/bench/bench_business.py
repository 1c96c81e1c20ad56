"""The business outcome (issue 23): ``retail evaluate business`` at its default size on a
warehouse server and an MLflow server of this bench's own, writing docs/business-impact.md,
and its figures (platform / baseline, both arms measured in the same run) into
docs/benchmarks.md.

    python tests/bench/bench_business.py --write docs/benchmarks.md
    python tests/bench/bench_business.py --oracle forecast   # an attribution variant

The warehouse (``--folder``/warehouse) is kept between runs, so the attribution's variants,
each a run of about an hour, can run one at a time: a variant writes its own report into
the folder and rewrites the attribution section of docs/business-impact.md from every
variant's newest run. ``--fresh`` starts the warehouse over.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from conftest import WarehouseProcess, free_port  # noqa: E402
from report import write_section  # noqa: E402
from stream_common import say  # noqa: E402

from retail.business.experiment import Experiment  # noqa: E402
from retail.business.report import refresh_attribution  # noqa: E402
from retail.io.warehouse import connect  # noqa: E402
from retail.local import mlflow_server  # noqa: E402
from retail.settings import Settings  # noqa: E402
from retail.warehouse.migrate import Migrator  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("stockout_rate", "overstock_value", "turnover", "lost_value", "fill_rate",
           "avg_inventory_value", "expired_value", "forecast_wape")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", type=Path, help="docs/benchmarks.md")
    p.add_argument("--doc", type=Path, default=ROOT / "docs" / "business-impact.md")
    p.add_argument("--folder", type=Path, default=ROOT / ".retail" / "bench-business")
    p.add_argument("--oracle", action="append", default=[],
                   help="an attribution variant: this part replaced by the truth (repeatable)")
    p.add_argument("--fresh", action="store_true", help="start the warehouse over")
    a = p.parse_args()
    if a.fresh:
        shutil.rmtree(a.folder, ignore_errors=True)
    shutil.rmtree(a.folder / "home", ignore_errors=True)  # the registry and lake: per run
    a.folder.mkdir(parents=True, exist_ok=True)
    variant = "+".join(sorted(a.oracle))
    doc = a.folder / f"business-impact-oracle-{variant}.md" if variant else a.doc
    home = a.folder / "home"
    settings = Settings(local={"home": home, "mlflow_port": free_port()},
                        lake={"root": str(home / "lake")})
    server = WarehouseProcess(a.folder / "warehouse")
    server.start(timeout_s=300)
    try:  # the servers stop whatever fails, MLflow's start included
        ws = server.settings()
        Migrator(connect(ws, database=""), ws.database, lambda db: connect(ws, db)).migrate()
        record, _ = mlflow_server.up(settings)
        env = {**os.environ, "RETAIL_WAREHOUSE__URL": ws.url, "RETAIL_WAREHOUSE__DATABASE":
               ws.database, "RETAIL_MLFLOW__TRACKING_URI": record.url,
               "RETAIL_LOCAL__HOME": str(home), "PYSPARK_PYTHON": sys.executable}
        options = [f"--oracle={part}" for part in a.oracle]
        say(f"retail evaluate business {' '.join(options)} (warehouse {ws.url}, MLflow "
            f"{record.url})")
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "retail", "evaluate", "business",
                        "--write", str(doc), *options], env=env, check=True, cwd=ROOT)
        seconds = time.perf_counter() - started
        with connect(ws) as wh:
            rows = wh.query_rows(
                "SELECT run_id, arm, metric, value, stores, products, period_from, period_to "
                "FROM business_impact FINAL ORDER BY created_at")
            if variant and refresh_attribution(a.doc, wh, Experiment()):
                say(f"rewrote the attribution of {a.doc}")
    finally:
        mlflow_server.down(settings)
        server.stop()
    if a.write and not variant:
        write_section(a.write, "business", section(rows, seconds))
        say(f"wrote {a.write}")


def section(rows: list[tuple], seconds: float) -> str:
    run = rows[-1][0]
    value = {(arm, m): v for r, arm, m, v, *_ in rows if r == run}
    _, _, _, _, stores, products, first, last = rows[-1]
    lines = [
        "## Business impact: the closed loop (issue 23)",
        "",
        f"`retail evaluate business` at its default size ({stores} stores x {products} SKUs, "
        f"compared {first} .. {last}; the full report, plots and set-up in "
        "[business-impact.md](business-impact.md)). Both arms are simulated in the same run "
        "with the same customers; each figure is the platform arm's over the baseline "
        f"arm's (the chain's fixed ordering policy). Run time {seconds / 60:.1f} min "
        f"(limit 60) on {os.cpu_count()} cores.",
        "",
        "| metric | baseline | platform | platform / baseline |",
        "|---|---:|---:|---:|",
    ]
    for m in FIGURES:
        b, p = value[("baseline", m)], value[("platform", m)]
        ratio = f"{p / b:.2f}x" if b else "- (baseline 0)"
        lines.append(f"| {m}{' (baseline: seasonal naive)' if m == 'forecast_wape' else ''}"
                     f" | {b:,.4g} | {p:,.4g} | {ratio} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
