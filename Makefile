# retail-platform: the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RETAIL := $(BIN)/retail
STAMP := $(VENV)/.installed
# The local MLflow server's own virtualenv: the full `mlflow` package pins pyarrow<26, the
# platform's .venv holds pyarrow 26 (the jobs use mlflow-skinny, the client, at this version).
# The stamp names the version, so changing it reinstalls.
MLFLOW_VENV := .venv-mlflow
MLFLOW_VERSION := 3.17.2
MLFLOW_STAMP := $(MLFLOW_VENV)/.installed-$(MLFLOW_VERSION)
# The local Airflow's own virtualenv (`retail pipeline run`, `retail local up --with-airflow`):
# Airflow's pins (SQLAlchemy, pendulum, ...) are not the platform's; the DAGs never import
# `pkg`, and their local tasks run the jobs with the platform's Python. The version is the one
# the Airflow chart ships (images/airflow/); the stamp names it, so changing it reinstalls.
AIRFLOW_VENV := .venv-airflow
AIRFLOW_VERSION := 3.1.8
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.installed-$(AIRFLOW_VERSION)

# Demo size: a day of a small chain (about 280k events).
DEMO_STORES ?= 5
DEMO_PRODUCTS ?= 500
DEMO_RATE ?= 50
# The Kafka demo day is the day before yesterday (UTC): a day that is over in every store's
# time zone (stores run down to UTC-8, so "yesterday" is still open there until 08:00 UTC).
DEMO_DAY := $(shell date -u -d '2 days ago' +%F)
# Warehouse demo: this many days of history straight into the fact tables, ending the day
# before the Kafka demo day, which goes through Kafka and the stream processor.
# 91: the features of the last 63 days (the forecast's window) see 28 days of history before it.
DEMO_WAREHOUSE_DAYS ?= 91
DEMO_WAREHOUSE_START := $(shell date -u -d '$(DEMO_WAREHOUSE_DAYS) days ago 2 days ago' +%F)
# A backfilled day is not in time order within a partition (the simulator writes it pair by
# pair), so replaying it through the stream needs a watermark delay longer than a day.
DEMO_LATE_AFTER ?= 2880
# The forecast trains on the feature store of the last DEMO_FEATURE_DAYS days to the demo
# day: its backtest's four weekly origins score the last 28, and the first origin learns from
# the 35 before it (with 35 days in all it learned from one week, and lost to seasonal naive).
DEMO_FEATURE_DAYS ?= 63
DEMO_FEATURES_FROM := $(shell date -u -d '$(DEMO_FEATURE_DAYS) days ago 1 day ago' +%F)
# The demo's regional manager sees this region (of the demo's 5 stores, S00002 and S00005).
DEMO_REGION ?= Southeast
# The planted ground truth of the warehouse history (only the evaluation reads it).
DEMO_TRUTH = $${RETAIL_LOCAL__HOME:-.retail}/demo-truth
# The backfill's last day, the day before the Kafka demo day.
DEMO_HISTORY_LAST := $(shell date -u -d '3 days ago' +%F)

.PHONY: help install demo test bench bench-forecast bench-forecast-cost bench-forecast-strategy bench-models bench-dashboards bench-business bench-business-attribution lock up down status clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

$(STAMP): pkg/pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	@command -v java >/dev/null || [ -x "$$JAVA_HOME/bin/java" ] || { echo "Spark needs a Java 17+ runtime: apt-get install openjdk-17-jre-headless (or set JAVA_HOME)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e './pkg[local,dev,spark,ml,dashboard,report]'
	$(BIN)/python tests/k8s/helm.py
	@touch $@

$(MLFLOW_STAMP): images/mlflow/constraints.txt
	$(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	@# The server image's lock: locally the versions of the cluster's server (boto3 for a lake on S3).
	$(MLFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-c images/mlflow/constraints.txt "mlflow==$(MLFLOW_VERSION)" boto3
	@touch $@

$(AIRFLOW_STAMP): images/airflow/constraints.txt images/airflow/requirements.txt
	$(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check --upgrade "pip>=24"
	$(AIRFLOW_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-c images/airflow/constraints.txt "apache-airflow==$(AIRFLOW_VERSION)" -r images/airflow/requirements.txt
	@touch $@

install: $(STAMP) $(MLFLOW_STAMP) $(AIRFLOW_STAMP) ## create .venv (and .venv-mlflow, .venv-airflow: the local MLflow server's and Airflow's) with the pinned dependencies

demo: install ## start the local stack, stream a simulated day through Kafka and Spark, backfill the warehouse, query it, open the dashboards
	$(RETAIL) local up
	$(RETAIL) simulate --stores $(DEMO_STORES) --products $(DEMO_PRODUCTS) --rate $(DEMO_RATE) --days 1 --start $(DEMO_DAY)
	$(RETAIL) local status
	$(RETAIL) peek retail-sales-transactions -n 1
	@# the calendar and the promotion plan from the history's first day to a week past the demo
	@# day (the forecasts' target days)
	$(RETAIL) warehouse load-dims --stores $(DEMO_STORES) --products $(DEMO_PRODUCTS) --start $(DEMO_WAREHOUSE_START) --days $$(( $(DEMO_WAREHOUSE_DAYS) + 9 ))
	@# who sees which stores in the dashboards and in Power BI (rls_assignments): an analyst
	@# every store, a regional manager one region, a store manager one store
	$(RETAIL) access grant analyst@retail.example --all
	$(RETAIL) access grant southeast.manager@retail.example --region $(DEMO_REGION)
	$(RETAIL) access grant s00001.manager@retail.example --store S00001
	$(RETAIL) access list
	$(RETAIL) stream run --available-now --late-after $(DEMO_LATE_AFTER)
	$(RETAIL) stream status --last 5
	@# the history, with its planted ground truth (docs/simulator.md) for the anomaly detector's evaluation
	$(RETAIL) simulate --sink warehouse --stores $(DEMO_STORES) --products $(DEMO_PRODUCTS) --rate $(DEMO_RATE) --days $(DEMO_WAREHOUSE_DAYS) --start $(DEMO_WAREHOUSE_START) --anomaly-rate 0.002 --truth $(DEMO_TRUTH)
	$(RETAIL) query executive_kpis
	$(RETAIL) query top_products
	$(RETAIL) query store_low_stock --store S00001
	@# the backfilled days' facts came straight from the simulator: closed by their end-of-day
	@# snapshot alone (docs/batch.md); the Kafka day by the daily ETL, reconciled with the lake
	$(RETAIL) batch close-imported --from $(DEMO_FEATURES_FROM) --to $(DEMO_HISTORY_LAST)
	$(RETAIL) features build --from $(DEMO_FEATURES_FROM) --to $(DEMO_HISTORY_LAST)
	@# the Kafka day through the Airflow DAGs (dag.test() of dags/ in local mode, each task its
	@# job's file; docs/orchestration.md): closed by the daily ETL and reconciled with the lake,
	@# its content checked, featurized; its predictions skip until the models below have champions
	$(RETAIL) pipeline run daily --date $(DEMO_DAY)
	@# the weekly training (the models_train DAG's jobs) by hand, so that the anomaly detector is
	@# measured on the planted truth; each registers a version, promoted only when better
	$(RETAIL) forecast train --as-of $(DEMO_DAY)
	$(RETAIL) stock train-lead-time --as-of $(DEMO_DAY)
	$(BIN)/python jobs/detect_anomalies.py --date $(DEMO_DAY) --task train --labels $(DEMO_TRUTH)/planted_anomalies.parquet
	$(BIN)/python jobs/classify_slow_movers.py --date $(DEMO_DAY) --task train
	@# five weeks of baskets (about ten visits a loyal customer): the default 90 days took 16 min here
	RETAIL_RECOMMENDATIONS__WINDOW_DAYS=35 $(BIN)/python jobs/train_recommendations.py --date $(DEMO_DAY) --task train
	@# the day's predictions through Airflow again, now with champions: forecasts, reorders,
	@# anomalies, slow movers, cross-sell, forecast accuracy
	RETAIL_RECOMMENDATIONS__WINDOW_DAYS=35 $(RETAIL) pipeline run predictions --date $(DEMO_DAY)
	$(RETAIL) forecast show --store S00001 --product P000001
	$(RETAIL) anomalies list --store S00001
	$(RETAIL) slow-movers --store S00001 --limit 10
	$(RETAIL) recommend --product P000001 --limit 5
	$(RETAIL) local up --with-dashboard
	@echo "Closed day $(DEMO_DAY): its reconciliation in job_runs (retail query, or SELECT details FROM job_runs WHERE job = 'daily_etl'),"
	@echo "  its cleaned events in $${RETAIL_LOCAL__HOME:-.retail}/lake/retail-processed-data/, its features in feature_store_daily"
	@echo "  and $${RETAIL_LOCAL__HOME:-.retail}/lake/retail-features/ (docs/features.md), its checks in dq_results (retail dq status)."
	@echo "The broker, the warehouse, the MLflow server and the dashboards keep running on 127.0.0.1 (stop them with: make down)."
	@echo "Warehouse: http://127.0.0.1:8123 (ClickHouse HTTP; user default, no password locally)."
	@echo "MLflow UI: http://127.0.0.1:$${RETAIL_LOCAL__MLFLOW_PORT:-5000} (experiments, runs, the model registry; retail models list)."
	@echo "Dashboards: http://127.0.0.1:$${RETAIL_DASHBOARD__PORT:-8050} (Executive, Store Manager, Inventory Analyst, ML Model Performance, Alerts)."
	@echo "  Pick a user in the page header: analyst@retail.example sees every store, southeast.manager@retail.example"
	@echo "  the $(DEMO_REGION) region, s00001.manager@retail.example store S00001 (retail access list; grant more with"
	@echo "  retail access grant USER --store S | --region R | --all)."

test: install ## run the whole test suite (unit, property and integration against real local services)
	$(BIN)/python -m pytest --durations=30

bench: install ## measure spine and warehouse against baselines in the same run (writes docs/benchmarks.md)
	$(BIN)/python tests/bench/bench_spine.py --write docs/benchmarks.md
	$(BIN)/python tests/bench/bench_warehouse.py --write docs/benchmarks.md
	$(BIN)/python tests/bench/bench_warehouse_concurrency.py --write docs/benchmarks.md
	$(BIN)/python tests/bench/bench_stream.py --write docs/benchmarks.md
	$(BIN)/python tests/bench/bench_dedup.py --write docs/benchmarks.md
	$(BIN)/python tests/bench/bench_parse_guard.py --write docs/benchmarks.md
	$(BIN)/python tests/bench/bench_batch.py --write docs/benchmarks.md
	$(MAKE) bench-dashboards
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/bench/forecast_training_check.py
	$(MAKE) bench-forecast
	$(MAKE) bench-forecast-strategy
	$(MAKE) bench-models
	$(MAKE) bench-business

bench-forecast: install ## the demand forecast's accuracy and cost (chain cached in .retail/bench-forecast/)
	$(BIN)/python tests/bench/bench_forecast.py --train-fraction 0.25 --compare-fraction 0.1 --write docs/benchmarks.md

bench-forecast-cost: install ## the forecast's training and prediction cost at 20x300, 60x900, 200x2000 (needs bench-forecast's cached chain)
	$(BIN)/python tests/bench/forecast_cost.py --sizes 20x300,60x900,200x2000 --max-series 1000 --train-fraction 0.1 --compare-all --write docs/benchmarks.md

bench-forecast-strategy: install ## the forecast's stacked model vs one model per horizon on bench-forecast's cached chain
	$(BIN)/python tests/bench/forecast_strategy.py --max-series 1000 --train-fraction 0.25 --write docs/benchmarks.md

# The closed loop (docs/business-impact.md): the same simulated chain and customers ordering by
# its fixed policy and by the platform's recommendations, the real jobs each night; at most an
# hour at the default 10 stores x 200 SKUs, 12 + 8 weeks. The eight weekly trainings fit on a
# quarter of their rows (train_fraction, as a big chain's do): on all of them each took 7 min
# of the hour.
BUSINESS_TRAIN_FRACTION ?= 0.25
bench-business: install ## the platform's business outcome against the chain's fixed ordering policy (writes docs/business-impact.md)
	@# the closed loop's end-to-end checks on a tiny chain first (6-7 minutes: over the suite's
	@# 300 s per test, so here and not in make test)
	$(BIN)/python -m pytest -q -p no:cacheprovider --timeout=900 tests/bench/business_loop_check.py
	RETAIL_FORECAST__TRAIN_FRACTION=$(BUSINESS_TRAIN_FRACTION) $(BIN)/python tests/bench/bench_business.py --write docs/benchmarks.md

# The attribution: the experiment again with each part of the chain replaced by the truth,
# about an hour each (one at a time: make bench-business-attribution ORACLES=caps). Each
# rewrites the attribution section of docs/business-impact.md.
ORACLES ?= forecast safety-stock lead-time caps
bench-business-attribution: install ## the business outcome with each part replaced by the truth (ORACLES=...)
	for part in $(ORACLES); do RETAIL_FORECAST__TRAIN_FRACTION=$(BUSINESS_TRAIN_FRACTION) $(BIN)/python tests/bench/bench_business.py --oracle $$part || exit 1; done

# The insight models: accuracy on a mid-size chain with planted truth, cost at the design's
# 200 stores x 2,000 SKUs (at 2 events a minute a store: the pairs, customers and days are the
# chain's, the sales thinner; the accuracy figures come from the mid-size runs).
MODELS_BENCH := .retail/bench-models
bench-models: install ## the anomaly, slow-mover and cross-sell models against their baselines, and their cost at 200x2000
	mkdir -p $(MODELS_BENCH)
	$(BIN)/python tests/bench/anomalies_bench.py --stores 12 --products 400 --days 60 --anomaly-rate 0.005 --json $(MODELS_BENCH)/anomalies-12x400.json
	$(BIN)/python tests/bench/anomalies_bench.py --stores 200 --products 2000 --days 50 --rate 2 --anomaly-rate 0.002 --json $(MODELS_BENCH)/anomalies-200x2000.json
	$(BIN)/python tests/bench/slow_movers_bench.py --stores 10 --products 300 --days 120 --json $(MODELS_BENCH)/slow-movers-10x300.json
	$(BIN)/python tests/bench/slow_movers_bench.py --stores 200 --products 2000 --days 63 --feature-days 35 --rate 2 --settings '{"label_days": 7}' --json $(MODELS_BENCH)/slow-movers-200x2000.json
	$(BIN)/python tests/bench/recommendations_bench.py --stores 10 --products 300 --days 56 --json $(MODELS_BENCH)/recommendations-10x300.json
	$(BIN)/python tests/bench/recommendations_bench.py --stores 200 --products 2000 --days 35 --rate 2 --json $(MODELS_BENCH)/recommendations-200x2000.json
	$(BIN)/python tests/bench/models_report.py --write docs/benchmarks.md \
		--anomalies $(MODELS_BENCH)/anomalies-12x400.json $(MODELS_BENCH)/anomalies-200x2000.json \
		--slow-movers $(MODELS_BENCH)/slow-movers-10x300.json $(MODELS_BENCH)/slow-movers-200x2000.json \
		--recommendations $(MODELS_BENCH)/recommendations-10x300.json $(MODELS_BENCH)/recommendations-200x2000.json

# The dashboards on the benchmark warehouse (a year of 200 stores x 2,000 SKUs, built once
# and cached in .retail/bench-dashboards/): each page's queries, each page drawn in headless
# Chromium, and 100 concurrent sessions vs the same queries one at a time.
bench-dashboards: install ## the dashboard pages' queries, their drawing in Chromium and 100 concurrent sessions on the benchmark warehouse
	$(BIN)/python tests/bench/bench_dashboards.py --write docs/benchmarks.md

lock: ## re-resolve constraints.txt from pkg/pyproject.toml in a scratch venv
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --disable-pip-version-check './pkg[local,dev,spark,ml,dashboard,report]'
	.lock-venv/bin/pip freeze --exclude-editable | grep -v '^retail-platform' > constraints.txt
	rm -rf .lock-venv

up: install ## start the local stack
	$(RETAIL) local up

status: install ## show the local stack: broker topics and offsets, warehouse, MLflow
	$(RETAIL) local status

down: ## stop the local stack (and the dashboards)
	@if [ -x $(RETAIL) ]; then $(RETAIL) local down; fi

clean: down ## stop the stack and delete .retail/, .venv/, .venv-mlflow/ and .venv-airflow/
	rm -rf .retail $(VENV) $(MLFLOW_VENV) $(AIRFLOW_VENV)
