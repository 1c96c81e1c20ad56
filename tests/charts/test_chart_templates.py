"""One class per template: what each renders from the values."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re

import pytest
import yaml

from tests.charts.chart_checks import pod_spec
from tests.k8s.helm import CHART, HelmError, render_chart, render_notes

ROOT = CHART.parents[1]
META = yaml.safe_load((CHART / "Chart.yaml").read_text())
KAFKA_SECURED = {"kafka": {"tls": {"enabled": True}, "auth": {"enabled": True}}}
A_DAY = {"dailyEtl": {"enabled": True, "date": "2026-11-30"}}
# The Spark jobs over store-local days: (template, values key, component), one shared template.
DAY_JOBS = [("spark-daily-etl.yaml", "dailyEtl", "daily-etl"),
            ("spark-build-features.yaml", "buildFeatures", "build-features")]
# The model jobs, each run once by the same template: (template, values key, component, the
# values of a run and the arguments they give).
MODEL_JOBS = [
    ("spark-train-demand-forecast.yaml", "trainDemandForecast", "train-demand-forecast",
     {"asOf": "2026-11-30"}, ["--as-of", "2026-11-30"]),
    ("spark-predict-daily.yaml", "predictDaily", "predict-daily",
     {"date": "2026-11-30"}, ["--date", "2026-11-30"]),
    ("spark-optimize-stock.yaml", "optimizeStock", "optimize-stock",
     {"date": "2026-11-30"}, ["--date", "2026-11-30"]),
    # The insight models of issue 19: a closed day and a task (train, score, all).
    ("spark-detect-anomalies.yaml", "detectAnomalies", "detect-anomalies",
     {"date": "2026-11-30"}, ["--date", "2026-11-30", "--task", "all"]),
    ("spark-classify-slow-movers.yaml", "classifySlowMovers", "classify-slow-movers",
     {"date": "2026-11-30"}, ["--date", "2026-11-30", "--task", "all"]),
    ("spark-train-recommendations.yaml", "trainRecommendations", "train-recommendations",
     {"date": "2026-11-30"}, ["--date", "2026-11-30", "--task", "all"])]
# The model jobs whose model is no Spark ML one (the anomaly detector's scikit-learn Isolation
# Forest, a folder in the registry): no MLflow Spark flavor, so no S3A (tests/charts/
# test_chart_insight_jobs.py); every other model job moves its model through S3A.
NO_SPARK_FLAVOR = {"detect-anomalies"}
SPARK_FLAVOR_JOBS = [job for job in MODEL_JOBS if job[2] not in NO_SPARK_FLAVOR]


DQ_ON = {"dataQuality": {"enabled": True}}
# The forecast monitoring: a plain Job on the warehouse, for one day.
EVALUATE_ON = {"evaluateForecasts": {"enabled": True, "date": "2026-11-30"}}
# The MLflow server on your database, and on the dev cluster's in-cluster PostgreSQL.
MLFLOW_ON = {"mlflow": {"enabled": True, "database": {"existingSecret": "mlflow-db"}}}
MLFLOW_DEV = {"airflowDatabase": {"inCluster": True},
              "mlflow": {"enabled": True, "database": {"inCluster": True}}}


def a_day(key: str) -> dict:
    return {key: {"enabled": True, "date": "2026-11-30"}}


def a_model_run(key: str, run: dict) -> dict:
    return {**MLFLOW_ON, key: {"enabled": True, **run}}


def only(template: str, values: dict | None = None) -> list[dict]:
    assert (CHART / "templates" / template).exists(), template
    try:
        return render_chart(values, show_only=[f"templates/{template}"])
    except HelmError as err:  # helm's way of saying the template rendered nothing
        if "could not find template" in str(err):
            return []
        raise


def one(template: str, kind: str, values: dict | None = None) -> dict:
    found = [o for o in only(template, values) if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in found]
    return found[0]


def assert_restricted(pod: dict) -> None:
    """The pod and its container run as the images' non-root user (10001) on a read-only
    root, without privilege escalation or capabilities."""
    ctr = pod["containers"][0]["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is ctr["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == ctr["runAsUser"] == 10001
    assert ctr["readOnlyRootFilesystem"] is True
    assert ctr["allowPrivilegeEscalation"] is False
    assert ctr["capabilities"] == {"drop": ["ALL"]}


class TestChartLock:
    def test_the_lock_pins_every_dependency_at_its_chart_version(self):
        lock = yaml.safe_load((CHART / "Chart.lock").read_text())
        assert [(d["name"], d["version"], d["repository"]) for d in lock["dependencies"]] == [
            (d["name"], d["version"], d["repository"]) for d in META["dependencies"]]

    def test_the_lock_digest_is_helms_digest_of_chart_yaml(self):
        # helm's resolver hashes json([requested dependencies, locked dependencies]) with
        # Go's field order and omitempty; `helm dependency build` refuses a stale lock.
        fields = ("name", "version", "repository", "condition", "tags", "enabled",
                  "import-values", "alias")
        req = [{k: d.get(k, "") for k in fields if k in ("name", "repository") or d.get(k)}
               for d in META["dependencies"]]
        lock = yaml.safe_load((CHART / "Chart.lock").read_text())
        locked = [{"name": d["name"], "version": d["version"], "repository": d["repository"]}
                  for d in lock["dependencies"]]
        data = json.dumps([req, locked], separators=(",", ":")).encode()
        assert lock["digest"] == "sha256:" + hashlib.sha256(data).hexdigest()

    def test_every_dependency_has_a_camel_case_switch(self):
        for dep in META["dependencies"]:
            key = dep.get("alias", dep["name"])
            assert dep["condition"] == f"{key}.enabled"
            assert re.fullmatch(r"[a-z][A-Za-z]*", key), key


class TestKafka:
    def test_kraft_runs_on_a_dual_role_node_pool_of_the_configured_size(self):
        pool = one("kafka.yaml", "KafkaNodePool", {"kafka": {"replicas": 3, "topicReplicas": 3}})
        assert pool["spec"]["replicas"] == 3
        assert pool["spec"]["roles"] == ["controller", "broker"]
        assert pool["metadata"]["labels"]["strimzi.io/cluster"] == "retail-platform"
        kafka = one("kafka.yaml", "Kafka", {"kafka": {"replicas": 3, "topicReplicas": 3}})
        assert kafka["apiVersion"] == "kafka.strimzi.io/v1"
        assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2

    def test_tls_and_auth_switch_the_listener(self):
        plain = one("kafka.yaml", "Kafka")["spec"]["kafka"]["listeners"]
        assert [(x["port"], x["tls"]) for x in plain] == [(9092, False)]
        secured = one("kafka.yaml", "Kafka", {"kafka": {"tls": {"enabled": True},
                                                        "auth": {"enabled": True}}})
        listener, = secured["spec"]["kafka"]["listeners"]
        assert (listener["port"], listener["tls"]) == (9093, True)
        assert listener["authentication"] == {"type": "scram-sha-512"}
        assert secured["spec"]["kafka"]["authorization"] == {"type": "simple"}

    def test_topics_are_the_codes_topics_with_seven_day_retention(self):
        chart_copy = (CHART / "files" / "topics.yaml").read_bytes()
        assert chart_copy == (ROOT / "pkg" / "retail" / "contracts" / "topics.yaml").read_bytes(), (
            "copy pkg/retail/contracts/topics.yaml to charts/retail-platform/files/")
        defs = yaml.safe_load(chart_copy)
        topics = {o["metadata"]["name"]: o["spec"] for o in only("kafka-topics.yaml")}
        assert topics == {t["name"]: {"partitions": t["partitions"], "replicas": 1, "config": {
            "retention.ms": 7 * 24 * 3600 * 1000, "cleanup.policy": "delete"}}
            for t in defs["topics"]}

    def test_each_user_gets_only_what_it_does(self):
        users = {o["metadata"]["name"]: o["spec"]["authorization"]["acls"] for o in only(
            "kafka-users.yaml", {"kafka": {"tls": {"enabled": True}, "auth": {"enabled": True}}})}

        def ops(user: str, topic: str) -> set[str]:
            return {op for acl in users[user] if acl["resource"]["name"] == topic
                    for op in acl["operations"]}
        assert ops("retail-platform-producer", "retail-sales-transactions") == {"Write", "Describe"}
        assert ops("retail-platform-producer", "retail-restock-alerts") == set()
        assert ops("retail-platform-stream", "retail-sales-transactions") == {"Read", "Describe"}
        assert ops("retail-platform-stream", "retail-restock-alerts") == {"Write", "Describe"}
        assert ops("retail-platform-alerts", "retail-restock-alerts") == {"Read", "Describe"}
        assert ops("retail-platform-alerts", "retail-sales-transactions") == set()


class TestClickHouse:
    def test_layout_and_keeper_follow_shards_and_replicas(self):
        values = {"clickhouse": {"shards": 2, "replicas": 2}}
        chi = one("clickhouse.yaml", "ClickHouseInstallation", values)
        layout = chi["spec"]["configuration"]["clusters"][0]["layout"]
        assert layout == {"shardsCount": 2, "replicasCount": 2}
        assert chi["spec"]["configuration"]["zookeeper"]["nodes"] == [
            {"host": "keeper-retail-platform", "port": 2181}]
        chk = one("clickhouse.yaml", "ClickHouseKeeperInstallation", values)
        assert chk["spec"]["configuration"]["clusters"][0]["layout"] == {"replicasCount": 3}

    def test_the_power_bi_load_balancer_serves_http_and_https_with_tls(self):
        svc = one("clickhouse.yaml", "Service", {"clickhouse": {
            "tls": {"enabled": True, "secretName": "tls"},
            "loadBalancer": {"sourceRanges": ["203.0.113.0/24"]}}})
        assert svc["spec"]["type"] == "LoadBalancer"
        assert svc["spec"]["externalTrafficPolicy"] == "Local"
        assert [p["port"] for p in svc["spec"]["ports"]] == [8443]
        both = one("clickhouse.yaml", "Service", {"clickhouse": {
            "tls": {"enabled": True, "secretName": "tls"}, "loadBalancer": {"httpWithTls": True}}})
        assert [p["port"] for p in both["spec"]["ports"]] == [8123, 8443]
        assert svc["spec"]["loadBalancerSourceRanges"] == ["203.0.113.0/24"]
        plain = one("clickhouse.yaml", "Service")
        assert [p["port"] for p in plain["spec"]["ports"]] == [8123]


class TestObjectStore:
    def test_the_tenant_creates_the_designs_buckets_from_generated_credentials(self):
        tenant = one("minio-tenant.yaml", "Tenant")
        assert [b["name"] for b in tenant["spec"]["buckets"]] == [
            "retail-raw-data", "retail-processed-data", "retail-models", "retail-features"]
        assert tenant["spec"]["configuration"] == {"name": "retail-platform-minio-env"}
        assert tenant["spec"]["users"] == [{"name": "retail-platform-object-store"}]

    # The jobs do not create buckets (pyarrow's S3 filesystem does not by default).
    @pytest.mark.parametrize(("bucket", "setting"), [
        ("processed", "RETAIL_LAKE__PROCESSED_BUCKET"),  # the daily ETL writes it
        ("features", "RETAIL_LAKE__FEATURES_BUCKET"),  # build_features writes it
    ])
    def test_the_jobs_write_to_buckets_the_tenant_creates(self, bucket, setting):
        values = {"objectStore": {"buckets": {bucket: f"acme-{bucket}"}}}
        env = one("configmap-env.yaml", "ConfigMap", values)["data"]
        assert env[setting] == f"acme-{bucket}"
        tenant = one("minio-tenant.yaml", "Tenant", values)
        assert f"acme-{bucket}" in [b["name"] for b in tenant["spec"]["buckets"]]

    def test_the_model_jobs_write_mlflows_spark_copies_where_the_tenant_lets_their_user(
            self):
        # The Tenant has one user, the jobs' Secret: the keys the model jobs get for S3A.
        values = {**MLFLOW_ON, "predictDaily": {"enabled": True, "date": "2026-11-30"},
                  "objectStore": {"buckets": {"processed": "acme-processed"}}}
        spec = one("spark-predict-daily.yaml", "SparkApplication", values)["spec"]
        env = {e["name"]: e for e in spec["driver"]["env"]}
        tenant = one("minio-tenant.yaml", "Tenant", values)
        assert env["MLFLOW_DFS_TMP"]["value"].startswith("s3a://acme-processed/")
        assert "acme-processed" in [b["name"] for b in tenant["spec"]["buckets"]]
        assert [{"name": env[k]["valueFrom"]["secretKeyRef"]["name"]} for k in (
            "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")] == tenant["spec"]["users"] * 2

    def test_an_external_store_points_every_job_at_its_endpoint(self):
        values = {"objectStore": {"provider": "external", "existingSecret": "mine",
                                  "external": {"endpoint": "https://s3.example.com"}}}
        assert only("minio-tenant.yaml", values) == []
        env = one("configmap-env.yaml", "ConfigMap", values)["data"]
        assert env["RETAIL_LAKE__S3_ENDPOINT"] == "https://s3.example.com"
        spark = one("spark-stream-processor.yaml", "SparkApplication", values)
        refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in spark["spec"]["driver"]["env"]
                if "valueFrom" in e and e["name"].startswith(("RETAIL_LAKE", "AWS_"))}
        assert refs == {"mine"}


class TestSparkApplication:
    def test_the_stream_processor_runs_the_locked_spark_from_the_appversion_image(self):
        app = one("spark-stream-processor.yaml", "SparkApplication")["spec"]
        pinned = re.search(r"^pyspark==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
        assert app["sparkVersion"] == pinned.group(1)
        assert app["image"] == f"ghcr.io/retail-platform/stream-processor:{META['appVersion']}"
        assert app["restartPolicy"]["type"] == "Always"
        assert app["mainApplicationFile"] == "local:///opt/retail/jobs/stream_processor.py"
        assert app["driver"]["serviceAccount"] == app["executor"]["serviceAccount"] == (
            "retail-platform-spark")

    def test_driver_and_executor_mirror_each_other(self):
        for template, values in [("spark-stream-processor.yaml", KAFKA_SECURED)] + [
                (template, {**KAFKA_SECURED, **a_day(key)}) for template, key, _ in DAY_JOBS] + [
                (template, {**KAFKA_SECURED, **a_model_run(key, run)})
                for template, key, _, run, _ in MODEL_JOBS]:
            app = one(template, "SparkApplication", values)["spec"]
            same = ("serviceAccount", "labels", "envFrom", "env", "securityContext",
                    "podSecurityContext", "volumeMounts")
            assert {k: app["driver"][k] for k in same} == {k: app["executor"][k] for k in same}

    def test_the_stream_reads_kafka_as_its_user_and_the_lake_through_s3a(self):
        driver = one("spark-stream-processor.yaml", "SparkApplication",
                     KAFKA_SECURED)["spec"]["driver"]
        env = {e["name"]: e for e in driver["env"]}
        assert env["RETAIL_KAFKA__SASL_USERNAME"]["value"] == "retail-platform-stream"
        assert env["RETAIL_STREAM__SOURCE"]["value"] == "jvm"
        assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
        assert {m["mountPath"] for m in driver["volumeMounts"]} == {"/tmp", "/etc/retail/kafka-ca"}

    def test_the_checkpoint_is_on_the_lake(self):
        env = one("configmap-env.yaml", "ConfigMap")["data"]
        assert env["RETAIL_STREAM__CHECKPOINT_DIR"] == (
            "s3a://retail-processed-data/checkpoints/stream-processor")

    def test_an_empty_registry_gives_the_image_names_tilt_builds(self):
        app = one("spark-stream-processor.yaml", "SparkApplication", {"image": {"registry": ""}})
        assert app["spec"]["image"] == f"retail-platform/stream-processor:{META['appVersion']}"


@pytest.mark.parametrize(("template", "key", "component"), DAY_JOBS, ids=[c for *_, c in DAY_JOBS])
class TestDayJobs:
    def test_nothing_runs_unless_a_day_is_asked_for(self, template, key, component):
        assert only(template) == []

    def test_a_day_runs_the_jobs_image_once_with_the_day_as_its_argument(
            self, template, key, component):
        app = one(template, "SparkApplication", a_day(key))
        spec = app["spec"]
        stream = one("spark-stream-processor.yaml", "SparkApplication")["spec"]
        job = component.replace("-", "_")
        assert app["metadata"]["name"] == f"retail-platform-{component}-2026-11-30"
        assert app["metadata"]["labels"]["app.kubernetes.io/component"] == component
        assert spec["arguments"] == ["--date", "2026-11-30"]
        assert spec["image"] == f"ghcr.io/retail-platform/{component}:{META['appVersion']}"
        assert spec["mainApplicationFile"] == f"local:///opt/retail/jobs/{job}.py"
        assert (ROOT / "jobs" / f"{job}.py").exists()
        assert spec["sparkVersion"] == stream["sparkVersion"]
        assert spec["restartPolicy"] == {
            "type": "OnFailure", "onFailureRetries": 2, "onFailureRetryInterval": 300,
            "onSubmissionFailureRetries": 3, "onSubmissionFailureRetryInterval": 60}

    def test_a_backfill_is_one_application_named_after_its_range(self, template, key, component):
        app = one(template, "SparkApplication", {key: {
            "enabled": True, "from": "2026-11-01", "to": "2026-11-30", "retries": 0}})
        assert app["metadata"]["name"] == f"retail-platform-{component}-2026-11-01-2026-11-30"
        assert app["spec"]["arguments"] == ["--from", "2026-11-01", "--to", "2026-11-30"]
        assert app["spec"]["restartPolicy"]["onFailureRetries"] == 0

    def test_it_gets_the_warehouse_and_lake_settings_but_no_kafka_or_s3a_credentials(
            self, template, key, component):
        values = {**KAFKA_SECURED, key: {**a_day(key)[key],
                                         "executor": {"instances": 3, "cores": 2}}}
        spec = one(template, "SparkApplication", values)["spec"]
        env = {e["name"]: e for e in spec["driver"]["env"]}
        assert set(env) == {"RETAIL_WAREHOUSE__PASSWORD", "RETAIL_LAKE__S3_ACCESS_KEY",
                            "RETAIL_LAKE__S3_SECRET_KEY", "RETAIL_STREAM__SHUFFLE_PARTITIONS"}
        assert env["RETAIL_WAREHOUSE__PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "retail-platform-clickhouse", "key": "etl-writer-password"}
        assert env["RETAIL_STREAM__SHUFFLE_PARTITIONS"]["value"] == "12"  # 3 x 2 x 2
        assert spec["driver"]["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
        assert spec["volumes"] == [{"name": "tmp", "emptyDir": {}}]
        assert spec["driver"]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert "sparkConf" not in spec

    def test_its_pods_run_as_the_images_non_root_user_on_a_read_only_root(
            self, template, key, component):
        spec = one(template, "SparkApplication", {**a_day(key), "image": {"tag": "1.2.3"}})["spec"]
        assert spec["image"].endswith(f"/{component}:1.2.3")
        for role in ("driver", "executor"):
            pod, ctr = spec[role]["podSecurityContext"], spec[role]["securityContext"]
            assert pod["runAsNonRoot"] is ctr["runAsNonRoot"] is True
            assert pod["runAsUser"] == ctr["runAsUser"] == 10001
            assert ctr["readOnlyRootFilesystem"] is True
            assert ctr["allowPrivilegeEscalation"] is False


@pytest.mark.parametrize(("template", "key", "component", "run", "arguments"), MODEL_JOBS,
                         ids=[c for _, _, c, *_ in MODEL_JOBS])
class TestModelJobs:
    def test_nothing_runs_unless_asked(self, template, key, component, run, arguments):
        assert only(template, MLFLOW_ON) == []

    def test_a_run_is_the_jobs_image_once_with_its_arguments(
            self, template, key, component, run, arguments):
        app = one(template, "SparkApplication", a_model_run(key, run))
        spec = app["spec"]
        day_job = one("spark-build-features.yaml", "SparkApplication",
                      a_day("buildFeatures"))["spec"]
        job = component.replace("-", "_")
        assert app["metadata"]["name"] == f"retail-platform-{component}-2026-11-30"
        assert app["metadata"]["labels"]["app.kubernetes.io/component"] == component
        assert spec["arguments"] == arguments
        assert spec["image"] == f"ghcr.io/retail-platform/{component}:{META['appVersion']}"
        assert spec["mainApplicationFile"] == f"local:///opt/retail/jobs/{job}.py"
        assert (ROOT / "jobs" / f"{job}.py").exists()
        own = ("arguments", "image", "driver", "executor", "mainApplicationFile",
               "restartPolicy", "sparkConf")
        assert {k: v for k, v in spec.items() if k not in own} == {
            k: v for k, v in day_job.items() if k not in own}
        assert spec["restartPolicy"]["type"] == "OnFailure"
        assert spec["restartPolicy"]["onFailureRetries"] >= 1

    def test_it_is_refused_without_the_mlflow_server(
            self, template, key, component, run, arguments):
        with pytest.raises(HelmError, match=re.escape(f"{key}.enabled needs mlflow.enabled")):
            only(template, {key: {"enabled": True, **run}})


@pytest.mark.parametrize(("template", "key", "component", "run", "arguments"), SPARK_FLAVOR_JOBS,
                         ids=[c for _, _, c, *_ in SPARK_FLAVOR_JOBS])
class TestSparkFlavorModelJobs:
    def test_it_gets_the_warehouse_password_the_mlflow_url_and_s3a_keys_but_no_lake_settings(
            self, template, key, component, run, arguments):
        spec = one(template, "SparkApplication", {**KAFKA_SECURED, **a_model_run(key, run)})[
            "spec"]
        config = one("configmap-env.yaml", "ConfigMap", MLFLOW_ON)["data"]
        for role in ("driver", "executor"):
            env = {e["name"]: e for e in spec[role]["env"]}
            assert set(env) == {"RETAIL_WAREHOUSE__PASSWORD", "RETAIL_STREAM__SHUFFLE_PARTITIONS",
                                "MLFLOW_DFS_TMP", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
            assert env["RETAIL_WAREHOUSE__PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                "name": "retail-platform-clickhouse", "key": "etl-writer-password"}
            assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
                "name": "retail-platform-object-store", "key": "access-key"}
            assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
                "name": "retail-platform-object-store", "key": "secret-key"}
            assert spec[role]["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
            assert spec[role]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert config["RETAIL_MLFLOW__TRACKING_URI"] == "http://retail-platform-mlflow.retail.svc:5000"

    def test_mlflows_spark_flavor_puts_model_copies_on_the_processed_bucket_through_s3a(
            self, template, key, component, run, arguments):
        # Spark's ML writer and reader run on the executors, and MLflow copies the model to and
        # from the driver's disk with Hadoop's default filesystem: one the pods share.
        spec = one(template, "SparkApplication", a_model_run(key, run))["spec"]
        stream = one("spark-stream-processor.yaml", "SparkApplication")["spec"]["sparkConf"]
        for role in ("driver", "executor"):
            env = {e["name"]: e.get("value") for e in spec[role]["env"]}
            assert env["MLFLOW_DFS_TMP"] == "s3a://retail-processed-data/tmp/mlflow"
        assert spec["sparkConf"] == {
            "spark.hadoop.fs.defaultFS": "s3a://retail-processed-data",
            "spark.hadoop.fs.s3a.endpoint": "http://minio.retail.svc",
            "spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.aws.credentials.provider":
                "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"}
        assert {k: v for k, v in spec["sparkConf"].items() if k.startswith("spark.hadoop.fs.s3a.")
                } == {k: v for k, v in stream.items() if k.startswith("spark.hadoop.fs.s3a.")}

    def test_an_external_store_its_secret_and_bucket_reach_the_model_job(
            self, template, key, component, run, arguments):
        values = {**a_model_run(key, run), "objectStore": {
            "provider": "external", "existingSecret": "mine", "region": "eu-west-1",
            "buckets": {"processed": "acme-processed"},
            "external": {"endpoint": "https://s3.example.com"}}}
        spec = one(template, "SparkApplication", values)["spec"]
        env = {e["name"]: e for e in spec["driver"]["env"]}
        assert env["MLFLOW_DFS_TMP"]["value"] == "s3a://acme-processed/tmp/mlflow"
        assert {e["valueFrom"]["secretKeyRef"]["name"] for name, e in env.items()
                if name.startswith("AWS_")} == {"mine"}
        assert spec["sparkConf"]["spark.hadoop.fs.defaultFS"] == "s3a://acme-processed"
        assert spec["sparkConf"]["spark.hadoop.fs.s3a.endpoint"] == "https://s3.example.com"
        assert spec["sparkConf"]["spark.hadoop.fs.s3a.endpoint.region"] == "eu-west-1"


class TestModelJobVariants:
    def test_training_without_a_day_trains_up_to_yesterday_under_a_plain_name(self):
        app = one("spark-train-demand-forecast.yaml", "SparkApplication",
                  a_model_run("trainDemandForecast", {}))
        assert app["metadata"]["name"] == "retail-platform-train-demand-forecast"
        assert "arguments" not in app["spec"]

    def test_the_forecast_training_gets_more_memory_than_the_feature_build(self):
        train = one("spark-train-demand-forecast.yaml", "SparkApplication",
                    a_model_run("trainDemandForecast", {}))["spec"]
        features = one("spark-build-features.yaml", "SparkApplication",
                       a_day("buildFeatures"))["spec"]

        def gigabytes(memory: str) -> int:
            assert memory.endswith("g"), memory
            return int(memory[:-1])

        for role in ("driver", "executor"):
            assert gigabytes(train[role]["memory"]) > gigabytes(features[role]["memory"])

    def test_the_weekly_lead_time_training_is_optimize_stock_with_train(self):
        app = one("spark-optimize-stock.yaml", "SparkApplication",
                  a_model_run("optimizeStock", {"train": True}))
        assert app["metadata"]["name"] == "retail-platform-optimize-stock-train"
        assert app["spec"]["arguments"] == ["--train"]


class TestDataQuality:
    def test_the_checks_run_five_past_every_hour_from_their_image_one_at_a_time(self):
        assert only("cronjob-data-quality.yaml") == []  # a value turns it on
        cron = one("cronjob-data-quality.yaml", "CronJob", DQ_ON)
        pod = pod_spec(cron)
        container, = pod["containers"]
        assert cron["metadata"]["name"] == "retail-platform-data-quality"
        assert (cron["spec"]["schedule"], cron["spec"]["timeZone"]) == ("5 * * * *", "Etc/UTC")
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"
        assert cron["spec"]["jobTemplate"]["spec"]["backoffLimit"] == 0  # exit 1 is a finding
        assert container["image"] == f"ghcr.io/retail-platform/data-quality:{META['appVersion']}"
        assert "args" not in container  # the image's entrypoint judges the last hours
        assert pod["restartPolicy"] == "Never"
        assert pod["serviceAccountName"] == "retail-platform-job"
        assert pod["automountServiceAccountToken"] is False

    def test_its_schedule_and_size_are_values(self):
        cron = one("cronjob-data-quality.yaml", "CronJob", {"dataQuality": {
            "enabled": True, "schedule": "@daily", "timeZone": "Europe/Paris",
            "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}})
        assert (cron["spec"]["schedule"], cron["spec"]["timeZone"]) == ("@daily", "Europe/Paris")
        assert pod_spec(cron)["containers"][0]["resources"] == {  # merged with the defaults
            "requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}

    def test_it_gets_the_warehouse_password_and_no_kafka_or_lake_credentials(self):
        container, = pod_spec(one("cronjob-data-quality.yaml", "CronJob",
                                  {**KAFKA_SECURED, **DQ_ON}))["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
        assert container["env"] == [{"name": "RETAIL_WAREHOUSE__PASSWORD", "valueFrom": {
            "secretKeyRef": {"name": "retail-platform-clickhouse",
                             "key": "etl-writer-password"}}}]
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]

    def test_it_runs_as_the_images_non_root_user_on_a_read_only_root(self):
        assert_restricted(pod_spec(one("cronjob-data-quality.yaml", "CronJob", DQ_ON)))

    def test_it_is_off_without_the_releases_clickhouse(self):
        assert only("cronjob-data-quality.yaml", {**DQ_ON, "clickhouse": {"enabled": False}}) == []


class TestEvaluateForecasts:
    """The forecast monitoring: one plain Job per day, SQL on the warehouse, no Spark."""

    def job(self, values: dict | None = None) -> dict:
        return one("job-evaluate-forecasts.yaml", "Job", {**EVALUATE_ON, **(values or {})})

    def test_nothing_runs_unless_a_day_is_asked_for(self):
        assert only("job-evaluate-forecasts.yaml") == []
        assert only("job-evaluate-forecasts.yaml", MLFLOW_ON) == []

    def test_a_run_is_the_jobs_image_once_with_the_day_as_its_argument(self):
        job = self.job()
        pod = pod_spec(job)
        container, = pod["containers"]
        assert job["metadata"]["name"] == "retail-platform-evaluate-forecasts-2026-11-30"
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "evaluate-forecasts"
        assert job["spec"]["template"]["metadata"]["labels"][
            "app.kubernetes.io/component"] == "evaluate-forecasts"
        assert container["name"] == "evaluate-forecasts"
        assert container["image"] == (
            f"ghcr.io/retail-platform/evaluate-forecasts:{META['appVersion']}")
        assert container["args"] == ["--date", "2026-11-30"]  # the image's entrypoint runs it
        assert "command" not in container
        assert (ROOT / "jobs" / "evaluate_forecasts.py").exists()
        assert pod["restartPolicy"] == "Never"
        assert pod["serviceAccountName"] == "retail-platform-job"
        assert pod["automountServiceAccountToken"] is False
        assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]

    def test_another_day_is_another_job(self):
        other = self.job({"evaluateForecasts": {"enabled": True, "date": "2026-12-04"}})
        assert other["metadata"]["name"] == "retail-platform-evaluate-forecasts-2026-12-04"
        assert pod_spec(other)["containers"][0]["args"] == ["--date", "2026-12-04"]

    def test_the_reference_window_and_the_size_are_values(self):
        job = self.job({"evaluateForecasts": {
            "enabled": True, "date": "2026-11-30", "referenceDays": 28,
            "resources": {"requests": {"cpu": "1"}, "limits": {"memory": "1Gi"}}}})
        container, = pod_spec(job)["containers"]
        assert container["args"] == ["--date", "2026-11-30", "--reference-days", "28"]
        assert container["resources"] == {  # merged with the defaults
            "requests": {"cpu": "1", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}

    def test_it_retries_a_failure_but_not_a_bad_argument_and_does_not_run_forever(self):
        spec = self.job()["spec"]
        assert 1 <= spec["backoffLimit"] <= 5  # exit 1: the warehouse, or actuals not ready
        rule, = spec["podFailurePolicy"]["rules"]
        assert rule == {"action": "FailJob", "onExitCodes": {
            "containerName": "evaluate-forecasts", "operator": "In", "values": [2]}}
        assert 0 < spec["activeDeadlineSeconds"] <= 3600
        assert spec["ttlSecondsAfterFinished"] >= 86400  # its logs outlive the night

    def test_it_gets_the_warehouse_password_and_no_kafka_lake_or_s3a_credentials(self):
        container, = pod_spec(self.job({**KAFKA_SECURED, **MLFLOW_ON}))["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": "retail-platform-env"}}]
        assert container["env"] == [{"name": "RETAIL_WAREHOUSE__PASSWORD", "valueFrom": {
            "secretKeyRef": {"name": "retail-platform-clickhouse",
                             "key": "etl-writer-password"}}}]
        assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert [v["name"] for v in pod_spec(self.job(KAFKA_SECURED))["volumes"]] == ["tmp"]

    def test_its_pod_runs_as_the_images_non_root_user_on_a_read_only_root(self):
        pod = pod_spec(self.job())
        assert_restricted(pod)
        ctr = pod["containers"][0]["securityContext"]
        assert ctr["seccompProfile"] == pod["securityContext"]["seccompProfile"] == {
            "type": "RuntimeDefault"}

    def test_it_has_the_same_pod_as_the_data_quality_checks_but_its_own_container(self):
        evaluate = pod_spec(self.job())
        checks = pod_spec(one("cronjob-data-quality.yaml", "CronJob", DQ_ON))
        mine, theirs = evaluate.pop("containers")[0], checks.pop("containers")[0]
        assert evaluate == checks
        own = ("name", "image", "args")
        assert {k: v for k, v in mine.items() if k not in own} == {
            k: v for k, v in theirs.items() if k not in own}

    def test_it_is_refused_without_a_day(self):
        with pytest.raises(HelmError, match=re.escape(
                "evaluateForecasts.enabled needs the day to evaluate: evaluateForecasts.date "
                "(YYYY-MM-DD")):
            only("job-evaluate-forecasts.yaml", {"evaluateForecasts": {"enabled": True}})

    def test_it_is_refused_without_the_releases_clickhouse(self):
        with pytest.raises(HelmError, match=re.escape(
                "evaluateForecasts.enabled needs clickhouse.enabled")):
            only("job-evaluate-forecasts.yaml", {**EVALUATE_ON, "clickhouse": {"enabled": False}})


class TestMigrationJob:
    def test_migrations_run_as_a_hook_with_the_admin_user(self):
        job = one("migrate-job.yaml", "Job")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"
        env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["RETAIL_WAREHOUSE__USER"]["value"] == "admin"
        assert env["RETAIL_WAREHOUSE__PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == (
            "admin-password")


class TestEnvContract:
    def test_every_setting_the_chart_passes_is_one_the_jobs_read(self):
        from retail.settings import Settings, env_var_name

        known = set()

        def walk(model, loc):
            for name, field in model.model_fields.items():
                sub = field.annotation
                if isinstance(sub, type) and hasattr(sub, "model_fields"):
                    walk(sub, (*loc, name))
                else:
                    known.add(env_var_name((*loc, name)))
        walk(Settings, ())
        env = one("configmap-env.yaml", "ConfigMap", {**MLFLOW_ON, "kafka": {
            "tls": {"enabled": True}, "auth": {"enabled": True}}})
        assert "RETAIL_MLFLOW__TRACKING_URI" in env["data"]
        passed = set(env["data"])

        def env_names(node):  # every `env:` list anywhere in an object
            if isinstance(node, dict):
                for key, value in node.items():
                    if key == "env" and isinstance(value, list):
                        yield from (e["name"] for e in value)
                    else:
                        yield from env_names(value)
            elif isinstance(node, list):
                for item in node:
                    yield from env_names(item)
        for obj in render_chart({"simulator": {"enabled": True}, **EVALUATE_ON}):
            passed |= {n for n in env_names(obj) if n.startswith("RETAIL_")}
        assert len(passed) > 20 and passed - known == set()


class TestNotes:
    def test_the_notes_say_how_to_reach_clickhouse_airflow_and_minio(self):
        text = render_notes()
        assert "port-forward svc/clickhouse-retail-platform 8123:8123" in text
        assert "get svc retail-platform-bi" in text
        assert "port-forward svc/retail-platform-api-server 8080:8080" in text
        assert "port-forward svc/retail-platform-console 9090:9090" in text
        assert "bi-reader-password" in text

    def test_the_notes_follow_the_switches(self):
        text = render_notes({"airflow": {"enabled": False}, "objectStore": {
            "provider": "external", "existingSecret": "s3",
            "external": {"endpoint": "https://s3.example.com"}}})
        assert "off (airflow.enabled=false)" in text
        assert "Endpoint https://s3.example.com" in text and "console" not in text

    def test_the_notes_say_how_to_open_the_mlflow_ui(self):
        assert "off (mlflow.enabled=false)" in render_notes()
        text = render_notes(MLFLOW_ON)
        assert "port-forward svc/retail-platform-mlflow 5000:5000" in text
        assert "http://retail-platform-mlflow.retail.svc:5000" in text
        assert "Secret mlflow-db (key connection)" in text

    def test_the_notes_say_how_the_daily_etl_runs(self):
        assert "Airflow runs it every night" in render_notes()
        assert "logs -f retail-platform-daily-etl-2026-11-30-driver" in render_notes(A_DAY)

    def test_the_notes_say_how_the_feature_build_runs(self):
        assert "manifests/spark-build-features.yaml" in render_notes()
        text = render_notes({"buildFeatures": {"enabled": True, "from": "2026-11-01",
                                               "to": "2026-11-30"}})
        assert "logs -f retail-platform-build-features-2026-11-01-2026-11-30-driver" in text

    def test_the_notes_say_how_each_model_job_runs(self):
        text = render_notes()
        for template, key, component, run, _ in MODEL_JOBS:
            assert f"{key} off; to run it by hand see docs/deploy.md (manifests/{template})" in text
            assert (ROOT / "manifests" / template).exists()
            text_on = render_notes(a_model_run(key, run))
            assert f"logs -f retail-platform-{component}-2026-11-30-driver" in text_on

    def test_the_notes_say_how_the_forecast_evaluation_runs(self):
        assert ("evaluateForecasts off; to evaluate a day by hand see docs/deploy.md "
                "(manifests/job-evaluate-forecasts.yaml)") in render_notes()
        assert (ROOT / "manifests" / "job-evaluate-forecasts.yaml").exists()
        text = render_notes(EVALUATE_ON)
        assert "logs -f job/retail-platform-evaluate-forecasts-2026-11-30" in text


class TestAirflowDatabase:
    def test_the_dev_database_and_airflows_connection_share_one_generated_password(self):
        objs = only("airflow-database.yaml", {"airflowDatabase": {"inCluster": True}})
        secret = next(o for o in objs if o["kind"] == "Secret")
        data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
        assert secret["metadata"]["name"] == "retail-platform-airflow-metadata"
        assert len(data["password"]) == 32
        assert data["connection"] == (f"postgresql://airflow:{data['password']}@"
                                      "retail-platform-airflow-db.retail.svc:5432/airflow")
        sts = next(o for o in objs if o["kind"] == "StatefulSet")
        env = {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "retail-platform-airflow-metadata", "key": "password"}

    def test_it_is_off_unless_asked_for(self):
        assert only("airflow-database.yaml") == []


class TestSimulator:
    def test_the_simulator_sends_at_the_configured_rate_as_the_producer_user(self):
        values = {"simulator": {"enabled": True, "replicas": 3, "rate": 50},
                  "kafka": {"tls": {"enabled": True}, "auth": {"enabled": True}}}
        deploy = one("simulator.yaml", "Deployment", values)
        assert deploy["spec"]["replicas"] == 3
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e for e in container["env"]}
        assert env["RETAIL_SIMULATOR__RATE"]["value"] == "50"
        assert env["RETAIL_KAFKA__SASL_USERNAME"]["value"] == "retail-platform-producer"
        assert env["RETAIL_KAFKA__SSL_CAFILE"]["value"] == "/etc/retail/kafka-ca/ca.crt"
        assert {m["mountPath"] for m in container["volumeMounts"]} == {
            "/tmp", "/etc/retail/kafka-ca"}


class TestNetworkPolicies:
    def test_clickhouse_admits_the_namespace_and_the_bi_source_ranges_only(self):
        policies = {p["metadata"]["name"]: p["spec"] for p in only(
            "networkpolicies.yaml", {"clickhouse": {"loadBalancer": {
                "sourceRanges": ["203.0.113.0/24"]}}})}
        rules = policies["retail-platform-clickhouse"]["ingress"]
        assert rules[0]["from"] == [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "retail"}}}]
        assert rules[1]["from"] == [{"ipBlock": {"cidr": "203.0.113.0/24"}}]
        assert {p["port"] for p in rules[1]["ports"]} == {8123, 8443}
        assert policies["retail-platform-jobs-default-deny"]["policyTypes"] == ["Ingress"]

    def test_spark_pods_admit_only_their_releases_spark_pods_whoever_created_them(self):
        # The day jobs' pods are covered with the jobs off too: Airflow or kubectl make them.
        policies = {p["metadata"]["name"]: p["spec"] for p in only("networkpolicies.yaml")}
        deny = policies["retail-platform-jobs-default-deny"]["podSelector"]
        spark = policies["retail-platform-spark-internal"]
        assert {"stream-processor", *(c for *_, c in DAY_JOBS),
                *(c for _, _, c, *_ in MODEL_JOBS)} <= set(deny["matchExpressions"][0]["values"])
        assert spark["ingress"] == [{"from": [{"podSelector": spark["podSelector"]}]}]
        for template, values in [("spark-stream-processor.yaml", None)] + [
                (template, a_day(key)) for template, key, _ in DAY_JOBS] + [
                (template, a_model_run(key, run)) for template, key, _, run, _ in MODEL_JOBS]:
            labels = one(template, "SparkApplication", values)["spec"]["driver"]["labels"]
            selector = spark["podSelector"]
            assert selector["matchLabels"].items() <= labels.items()
            assert labels["app.kubernetes.io/component"] in (
                selector["matchExpressions"][0]["values"])


def selects(selector: dict, labels: dict) -> bool:
    """Whether a label selector (matchLabels, matchExpressions with In) picks these labels."""
    assert {e["operator"] for e in selector.get("matchExpressions", [])} <= {"In"}
    return selector.get("matchLabels", {}).items() <= labels.items() and all(
        labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


# The pods whose work is SQL on the warehouse: their component, the template that makes
# them, its kind and the values that switch it on, and the path to the pod template.
WAREHOUSE_ONLY = {
    "data-quality": ("cronjob-data-quality.yaml", "CronJob", DQ_ON,
                     ("spec", "jobTemplate", "spec", "template")),
    "evaluate-forecasts": ("job-evaluate-forecasts.yaml", "Job", EVALUATE_ON,
                           ("spec", "template")),
}


@pytest.mark.parametrize("component", sorted(WAREHOUSE_ONLY))
class TestWarehouseOnlyNetwork:
    """Only ClickHouse (and DNS) for the data-quality and forecast-monitoring pods; nothing
    may connect to them."""

    @pytest.fixture(autouse=True)
    def _component(self, component):
        self.component = component

    def policies(self, values: dict | None = None) -> dict[str, dict]:
        return {p["metadata"]["name"]: p["spec"] for p in only("networkpolicies.yaml", values)}

    def pod_labels(self, values: dict | None = None) -> dict:
        template, kind, on, path = WAREHOUSE_ONLY[self.component]
        obj = one(template, kind, {**on, **(values or {})})
        for key in path:
            obj = obj[key]
        return obj["metadata"]["labels"]

    def test_clickhouse_admits_the_pod_on_the_port_it_connects_to(self, component):
        for tls, values in ((False, {}), (True, {"clickhouse": {"tls": {
                "enabled": True, "secretName": "tls"}}})):
            url = one("configmap-env.yaml", "ConfigMap", values)["data"]["RETAIL_WAREHOUSE__URL"]
            port = int(url.rsplit(":", 1)[1])
            policies = self.policies(values)
            clickhouse = policies["retail-platform-clickhouse"]
            egress = policies[f"retail-platform-{self.component}"]
            assert selects(egress["podSelector"], self.pod_labels(values))
            assert not any(selects(egress["podSelector"], self.pod_labels(values) | {
                "app.kubernetes.io/component": other}) for other in WAREHOUSE_ONLY
                if other != self.component)
            # Out of the pod: to ClickHouse's servers on the port of the warehouse URL.
            to_clickhouse, dns = egress["egress"]
            assert to_clickhouse == {"to": [{"podSelector": clickhouse["podSelector"]}],
                                     "ports": [{"port": port, "protocol": "TCP"}]}
            assert port == (8443 if tls else 8123)
            # Into ClickHouse: its rule for the release namespace, where the pod runs.
            in_namespace = clickhouse["ingress"][0]
            assert in_namespace["from"] == [{"namespaceSelector": {"matchLabels": {
                "kubernetes.io/metadata.name": "retail"}}}]
            assert {"port": port, "protocol": "TCP"} in in_namespace["ports"]

    def test_the_pod_reaches_nothing_else_and_nothing_reaches_it(self, component):
        policies = self.policies()
        egress = policies[f"retail-platform-{component}"]
        assert egress["policyTypes"] == ["Egress"]
        assert egress["egress"][1] == {"ports": [{"port": 53, "protocol": "UDP"},
                                                 {"port": 53, "protocol": "TCP"}]}
        assert len(egress["egress"]) == 2
        deny = policies["retail-platform-jobs-default-deny"]
        assert selects(deny["podSelector"], self.pod_labels()) and "ingress" not in deny
        assert not selects(policies["retail-platform-spark-internal"]["podSelector"],
                           self.pod_labels())

    def test_the_pods_are_held_to_it_whoever_made_them(self, component):
        # Airflow's runs and manifests/ carry the same labels: the policy is there with the
        # chart's own job switched off
        assert f"retail-platform-{component}" in self.policies()


class TestMlflow:
    def deployment(self, values: dict | None = None) -> dict:
        return one("mlflow.yaml", "Deployment", values or MLFLOW_ON)

    def container(self, values: dict | None = None) -> dict:
        return pod_spec(self.deployment(values))["containers"][0]

    def test_nothing_renders_unless_enabled(self):
        assert only("mlflow.yaml") == []
        assert "RETAIL_MLFLOW__TRACKING_URI" not in one("configmap-env.yaml", "ConfigMap")["data"]
        assert only("mlflow.yaml", {**MLFLOW_ON, "operatorsOnly": True}) == []

    def test_the_jobs_reach_the_server_through_the_env_contract(self):
        env = one("configmap-env.yaml", "ConfigMap", MLFLOW_ON)["data"]
        svc = one("mlflow.yaml", "Service", MLFLOW_ON)
        assert env["RETAIL_MLFLOW__TRACKING_URI"] == "http://retail-platform-mlflow.retail.svc:5000"
        assert svc["metadata"]["name"] == "retail-platform-mlflow"
        assert svc["spec"]["type"] == "ClusterIP"
        assert svc["spec"]["ports"] == [{"name": "http", "port": 5000, "targetPort": "http",
                                         "protocol": "TCP"}]
        assert selects({"matchLabels": svc["spec"]["selector"]},
                       self.deployment()["spec"]["template"]["metadata"]["labels"])

    def test_the_server_proxies_artifacts_to_the_models_bucket_on_the_url_of_its_secret(self):
        container = self.container({**MLFLOW_ON, "objectStore": {"buckets": {"models": "acme-m"}}})
        args = container["args"]
        assert container["image"] == f"ghcr.io/retail-platform/mlflow:{META['appVersion']}"
        assert args[:4] == ["--host", "0.0.0.0", "--port", "5000"]
        assert args[args.index("--artifacts-destination") + 1] == "s3://acme-m/"
        assert "--serve-artifacts" in args and args[args.index("--workers") + 1] == "2"
        assert "--backend-store-uri" not in args  # a URL with a password: from the Secret
        env = {e["name"]: e for e in container["env"]}
        assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
            "name": "mlflow-db", "key": "connection"}
        assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://minio.retail.svc"
        for name, key in (("AWS_ACCESS_KEY_ID", "access-key"),
                          ("AWS_SECRET_ACCESS_KEY", "secret-key")):
            assert env[name]["valueFrom"]["secretKeyRef"] == {
                "name": "retail-platform-object-store", "key": key}
        assert "MLFLOW_S3_IGNORE_TLS" not in env

    def test_an_external_store_gives_the_server_its_endpoint_and_your_keys(self):
        values = {**MLFLOW_ON, "objectStore": {"provider": "external", "existingSecret": "s3",
                                               "external": {"endpoint": "http://s3.lan:9100",
                                                            "tls": False}}}
        env = {e["name"]: e for e in self.container(values)["env"]}
        assert env["MLFLOW_S3_ENDPOINT_URL"]["value"] == "http://s3.lan:9100"
        assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "s3"
        assert env["MLFLOW_S3_IGNORE_TLS"]["value"] == "true"

    def test_the_server_answers_its_service_names_and_localhost_only(self):
        args = self.container({**MLFLOW_ON, "mlflow": {**MLFLOW_ON["mlflow"], "allowedHosts": [
            "mlflow.example.com"]}})["args"]
        hosts = args[args.index("--allowed-hosts") + 1].split(",")
        for host in ("retail-platform-mlflow:5000", "retail-platform-mlflow.retail.svc:5000",
                     "localhost:5000", "mlflow.example.com"):
            assert any(fnmatch.fnmatch(host, allowed) for allowed in hosts), host
        assert not any(fnmatch.fnmatch("evil.example.com", allowed) for allowed in hosts)
        assert "*" not in hosts

    def test_it_runs_non_root_on_a_read_only_root_without_an_api_token(self):
        pod = pod_spec(self.deployment())
        ctr = pod["containers"][0]["securityContext"]
        assert pod["securityContext"]["runAsNonRoot"] is ctr["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == ctr["runAsUser"] == 10001
        assert ctr["readOnlyRootFilesystem"] is True and ctr["allowPrivilegeEscalation"] is False
        assert pod["automountServiceAccountToken"] is False
        assert pod["containers"][0]["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
        assert "initContainers" not in pod  # your database: nothing to create

    def test_every_probe_asks_health_on_the_served_port(self):
        container = self.container()
        probes = [container[k] for k in ("startupProbe", "readinessProbe", "livenessProbe")]
        assert {(p["httpGet"]["path"], p["httpGet"]["port"]) for p in probes} == {
            ("/health", "http")}
        assert container["ports"] == [{"name": "http", "containerPort": 5000, "protocol": "TCP"}]
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 120  # first migration

    def test_its_size_and_workers_are_values(self):
        values = {"mlflow": {**MLFLOW_ON["mlflow"], "workers": 4, "resources": {
            "requests": {"cpu": "1"}, "limits": {"memory": "4Gi"}}}}
        container = self.container(values)
        assert container["args"][container["args"].index("--workers") + 1] == "4"
        assert container["resources"] == {"requests": {"cpu": "1", "memory": "1Gi"},
                                          "limits": {"cpu": "1", "memory": "4Gi"}}

    def test_in_the_dev_database_its_pod_makes_its_user_and_database_first(self):
        pod = pod_spec(self.deployment(MLFLOW_DEV))
        init, = pod["initContainers"]
        env = {e["name"]: e for e in init["env"]}
        assert init["image"] == "postgres:17.6-bookworm"
        assert env["PGHOST"]["value"] == "retail-platform-airflow-db.retail.svc"
        assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "retail-platform-airflow-metadata", "key": "password"}
        assert env["MLFLOW_DB_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "retail-platform-mlflow-db", "key": "password"}
        script = init["command"][2]
        assert "CREATE ROLE mlflow" in script and "CREATE DATABASE mlflow OWNER mlflow" in script
        assert "PASSWORD :'password'" in script  # a psql variable: the value is not in the spec
        assert init["securityContext"]["runAsUser"] == 10001
        server = {e["name"]: e for e in pod["containers"][0]["env"]}
        assert server["MLFLOW_BACKEND_STORE_URI"]["valueFrom"]["secretKeyRef"] == {
            "name": "retail-platform-mlflow-db", "key": "connection"}


class TestMlflowNetwork:
    """Jobs and Airflow into the server; the server out to PostgreSQL, the store and DNS."""

    def policy(self, values: dict) -> dict:
        policies = {p["metadata"]["name"]: p["spec"] for p in only("networkpolicies.yaml", values)}
        return policies["retail-platform-mlflow"]

    def test_there_is_no_policy_without_the_server(self):
        names = {p["metadata"]["name"] for p in only("networkpolicies.yaml")}
        assert "retail-platform-mlflow" not in names

    def test_the_jobs_and_airflow_reach_the_server_and_nothing_else_does(self):
        policy = self.policy(MLFLOW_ON)
        server = one("mlflow.yaml", "Deployment", MLFLOW_ON)["spec"]["template"]["metadata"]
        assert selects(policy["podSelector"], server["labels"])
        assert sorted(policy["policyTypes"]) == ["Egress", "Ingress"]
        rule, = policy["ingress"]
        assert rule["ports"] == [{"port": 5000, "protocol": "TCP"}]
        # A job pod of the release, whoever made it (its labels), and Airflow's pods.
        for template, values in [("simulator.yaml", {"simulator": {"enabled": True}}),
                                 ("cronjob-data-quality.yaml", DQ_ON)]:
            labels = next(o for o in only(template, values) if o["kind"] in (
                "Deployment", "CronJob"))
            labels = (labels["spec"].get("jobTemplate", {}).get("spec", labels["spec"])
                      ["template"]["metadata"]["labels"])
            assert any(selects(peer["podSelector"], labels) for peer in rule["from"]), template
        airflow_worker = {"tier": "airflow", "component": "worker", "release": "retail-platform"}
        assert any(selects(peer["podSelector"], airflow_worker) for peer in rule["from"])
        other_release = {"app.kubernetes.io/name": "retail-platform",
                         "app.kubernetes.io/instance": "other", "tier": "airflow",
                         "release": "other"}
        assert not any(selects(peer["podSelector"], other_release) for peer in rule["from"])
        assert all(set(peer) == {"podSelector"} for peer in rule["from"])  # this namespace only

    def test_the_model_jobs_pods_reach_the_server_and_the_warehouse(self):
        policies = only("networkpolicies.yaml", MLFLOW_ON)
        rule, = self.policy(MLFLOW_ON)["ingress"]
        clickhouse = next(p["spec"] for p in policies
                          if p["metadata"]["name"] == "retail-platform-clickhouse")
        egress = [p["spec"]["podSelector"] for p in policies
                  if "Egress" in p["spec"]["policyTypes"]]
        assert clickhouse["ingress"][0]["from"] == [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "retail"}}}]
        for template, key, _, run, _ in MODEL_JOBS:
            spec = one(template, "SparkApplication", a_model_run(key, run))["spec"]
            for role in ("driver", "executor"):
                labels = spec[role]["labels"]
                assert any(selects(peer["podSelector"], labels) for peer in rule["from"])
                # No policy holds their way out (to ClickHouse, the server, DNS) back.
                assert not [s for s in egress if selects(s, labels)], (template, role)

    def test_the_server_reaches_the_dev_database_and_minio_and_dns_only(self):
        policy = self.policy(MLFLOW_DEV)
        db = one("airflow-database.yaml", "StatefulSet", MLFLOW_DEV)
        to_db, to_minio, dns = policy["egress"]
        assert selects(to_db["to"][0]["podSelector"], db["spec"]["template"]["metadata"]["labels"])
        assert to_db["ports"] == [{"port": 5432, "protocol": "TCP"}]
        tenant = one("minio-tenant.yaml", "Tenant", MLFLOW_DEV)
        assert to_minio["to"] == [{"podSelector": {"matchLabels": {
            "v1.min.io/tenant": tenant["metadata"]["name"]}}}]
        assert to_minio["ports"] == [{"port": 9000, "protocol": "TCP"}]
        assert dns == {"ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}

    @pytest.mark.parametrize(("endpoint", "port"), [("https://s3.eu-west-1.amazonaws.com", 443),
                                                    ("http://s3.lan", 80),
                                                    ("http://s3.lan:9100", 9100)])
    def test_your_database_and_store_are_reached_on_their_ports(self, endpoint, port):
        values = {"mlflow": {**MLFLOW_ON["mlflow"], "database": {
            "existingSecret": "mlflow-db", "port": 6432}}, "objectStore": {
            "provider": "external", "existingSecret": "s3", "external": {"endpoint": endpoint}}}
        to_db, to_store, _ = self.policy(values)["egress"]
        assert to_db == {"ports": [{"port": 6432, "protocol": "TCP"}]}
        assert to_store == {"ports": [{"port": port, "protocol": "TCP"}]}


class TestOperators:
    def test_the_operators_release_installs_the_spark_and_minio_operators_first(self):
        ops = yaml.safe_load((CHART / "ci" / "03-operators-values.yaml").read_text())
        assert ops["operatorsOnly"] is True
        assert ops["sparkOperator"]["enabled"] and ops["minioOperator"]["enabled"]
        defaults = yaml.safe_load((CHART / "values.yaml").read_text())
        # In the platform release these two must be off (webhook and CRD ordering).
        assert not defaults["sparkOperator"]["enabled"] and not defaults["minioOperator"]["enabled"]

    def test_aliased_operator_charts_get_valid_lowercase_names(self):
        defaults = yaml.safe_load((CHART / "values.yaml").read_text())
        for dep in META["dependencies"]:
            alias = dep.get("alias")
            if alias and alias != alias.lower():
                name = defaults[alias].get("fullnameOverride", "")
                assert name == name.lower() and re.fullmatch(r"[a-z][a-z0-9-]*", name) or (
                    dep["name"] in ("strimzi-kafka-operator", "operator")), alias
