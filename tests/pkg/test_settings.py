"""Settings come from RETAIL_ environment variables and every error names the variable."""

from __future__ import annotations

import os

import pytest

from retail.settings import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """Start every test with no RETAIL_ variable set, whatever the shell exported."""
    for name in list(os.environ):
        if name.startswith("RETAIL_"):
            monkeypatch.delenv(name)


def setenv(monkeypatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_defaults_load_with_no_environment():
    s = load_settings()
    assert (s.env, s.kafka.linger_ms, s.simulator.stores) == ("local", 20, 20)


def test_prefixed_variables_with_double_underscores_set_nested_fields(monkeypatch):
    setenv(monkeypatch, RETAIL_ENV="dev", RETAIL_KAFKA__LINGER_MS="50",
           RETAIL_SIMULATOR__STORES="7", RETAIL_LAKE__ROOT="s3://lake/raw",
           RETAIL_LOG__LEVEL="DEBUG")
    s = load_settings()
    assert s.env == "dev"
    assert s.kafka.linger_ms == 50
    assert s.simulator.stores == 7
    assert s.lake.is_s3
    assert s.log.level == "DEBUG"


def test_a_variable_without_the_prefix_is_not_read(monkeypatch):
    setenv(monkeypatch, KAFKA__LINGER_MS="50", ENV="prod")
    s = load_settings()
    assert (s.env, s.kafka.linger_ms) == ("local", 20)


@pytest.mark.parametrize("name", ["RETAIL_KAFKA__LINGER_MS", "RETAIL_ENV",
                                  "RETAIL_SIMULATOR__STORES"])
def test_an_empty_variable_is_ignored(monkeypatch, name):
    monkeypatch.setenv(name, "")
    s = load_settings()
    assert (s.env, s.kafka.linger_ms, s.simulator.stores) == ("local", 20, 20)


@pytest.mark.parametrize(("name", "value"), [
    ("RETAIL_KAFKA__LINGER_MS", "soon"),
    ("RETAIL_KAFKA__LINGER_MS", "20000"),
    ("RETAIL_KAFKA__LINGER_MS", "-1"),
    ("RETAIL_KAFKA__SECURITY_PROTOCOL", "TLS"),
    ("RETAIL_SIMULATOR__STORES", "0"),
    ("RETAIL_SIMULATOR__START_DATE", "5 Jan 2026"),
    ("RETAIL_LOCAL__BROKER_PORT", "80"),
    ("RETAIL_LOCAL__STORAGE_ENGINE", "postgres://db"),
    ("RETAIL_LOG__LEVEL", "LOUD"),
    ("RETAIL_ENV", "production"),
    ("RETAIL_STREAM__SPARK_DRIVER_MEMORY", "lots"),
    ("RETAIL_STREAM__SPARK_DRIVER_MEMORY", "4"),
])
def test_an_invalid_value_raises_an_error_naming_the_variable(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_an_error_names_every_bad_variable(monkeypatch):
    setenv(monkeypatch, RETAIL_KAFKA__LINGER_MS="soon", RETAIL_SIMULATOR__STORES="0")
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "RETAIL_KAFKA__LINGER_MS" in str(info.value)
    assert "RETAIL_SIMULATOR__STORES" in str(info.value)


@pytest.mark.parametrize("name", ["RETAIL_KAFKA__LINGERMS", "RETAIL_SIMULATOR__SHOPS",
                                  "RETAIL_LAKE__BUCKET"])
def test_an_unknown_nested_variable_is_an_error_naming_it(monkeypatch, name):
    monkeypatch.setenv(name, "1")
    with pytest.raises(SettingsError, match=name):
        load_settings()


def test_an_unknown_top_level_variable_is_an_error_naming_it(monkeypatch):
    # pydantic-settings reads only the fields it knows, so load_settings checks the
    # environment itself: a misspelt name must not be ignored silently.
    monkeypatch.setenv("RETAIL_ENVIRONMENT", "prod")
    with pytest.raises(SettingsError, match="RETAIL_ENVIRONMENT: unknown setting"):
        load_settings()


@pytest.mark.parametrize("missing", ["RETAIL_KAFKA__SASL_MECHANISM",
                                     "RETAIL_KAFKA__SASL_USERNAME",
                                     "RETAIL_KAFKA__SASL_PASSWORD"])
def test_sasl_without_all_credentials_fails(monkeypatch, missing):
    setenv(monkeypatch, RETAIL_KAFKA__SECURITY_PROTOCOL="SASL_SSL",
           RETAIL_KAFKA__SASL_MECHANISM="SCRAM-SHA-512", RETAIL_KAFKA__SASL_USERNAME="retail",
           RETAIL_KAFKA__SASL_PASSWORD="s3cr3t-Value")
    monkeypatch.delenv(missing)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert "RETAIL_KAFKA" in str(info.value)
    assert "sasl_username" in str(info.value)


def test_sasl_with_credentials_loads_and_reaches_the_client_config(monkeypatch):
    setenv(monkeypatch, RETAIL_KAFKA__SECURITY_PROTOCOL="SASL_SSL",
           RETAIL_KAFKA__SASL_MECHANISM="SCRAM-SHA-512", RETAIL_KAFKA__SASL_USERNAME="retail",
           RETAIL_KAFKA__SASL_PASSWORD="s3cr3t-Value")
    cfg = load_settings().kafka.client_config()
    assert cfg["sasl_plain_username"] == "retail"
    assert cfg["sasl_plain_password"] == "s3cr3t-Value"


def test_a_secret_does_not_appear_in_the_settings_repr(monkeypatch):
    setenv(monkeypatch, RETAIL_LAKE__S3_SECRET_KEY="s3cr3t-Value")
    assert "s3cr3t-Value" not in repr(load_settings())


SASL = {"RETAIL_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "RETAIL_KAFKA__SASL_MECHANISM": "PLAIN", "RETAIL_KAFKA__SASL_USERNAME": "retail"}


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
@pytest.mark.parametrize(("name", "extra"), [
    ("RETAIL_KAFKA__SASL_PASSWORD", SASL),
    ("RETAIL_LAKE__S3_SECRET_KEY", {}),
])
@pytest.mark.parametrize("secret", ["changeme", "ChangeMe", "minioadmin", "password"])
def test_a_placeholder_secret_is_refused_outside_local(monkeypatch, env, name, extra, secret):
    setenv(monkeypatch, RETAIL_ENV=env, **extra, **{name: secret})
    with pytest.raises(SettingsError, match="placeholder"):
        load_settings()


def test_a_placeholder_secret_error_names_its_environment_variable(monkeypatch):
    setenv(monkeypatch, RETAIL_ENV="prod", RETAIL_LAKE__S3_SECRET_KEY="changeme")
    with pytest.raises(SettingsError, match="RETAIL_LAKE__S3_SECRET_KEY"):
        load_settings()


@pytest.mark.parametrize(("name", "extra"), [
    ("RETAIL_KAFKA__SASL_PASSWORD", SASL),
    ("RETAIL_LAKE__S3_SECRET_KEY", {}),
])
def test_a_placeholder_secret_is_allowed_in_local(monkeypatch, name, extra):
    setenv(monkeypatch, RETAIL_ENV="local", **extra, **{name: "changeme"})
    assert load_settings().env == "local"


def test_a_real_secret_is_accepted_in_prod(monkeypatch):
    setenv(monkeypatch, RETAIL_ENV="prod", RETAIL_LAKE__S3_SECRET_KEY="k9-Vq2-real")
    assert load_settings().lake.s3_secret_key.get_secret_value() == "k9-Vq2-real"


def test_local_kafka_resolves_to_tansu_on_the_local_broker_port(monkeypatch):
    setenv(monkeypatch, RETAIL_LOCAL__BROKER_PORT="19092")
    kafka = load_settings().resolved_kafka()
    assert kafka.flavor == "tansu"
    assert kafka.bootstrap_servers == "127.0.0.1:19092"


def test_local_kafka_keeps_an_explicit_bootstrap_server(monkeypatch):
    setenv(monkeypatch, RETAIL_LOCAL__BROKER_PORT="19092",
           RETAIL_KAFKA__BOOTSTRAP_SERVERS="broker-0:9092,broker-1:9092")
    kafka = load_settings().resolved_kafka()
    assert kafka.flavor == "tansu"
    assert kafka.bootstrap_servers == "broker-0:9092,broker-1:9092"
    assert kafka.client_config()["bootstrap_servers"] == ["broker-0:9092", "broker-1:9092"]


def test_local_kafka_ignores_the_broker_port_when_other_kafka_fields_are_set(monkeypatch):
    setenv(monkeypatch, RETAIL_LOCAL__BROKER_PORT="19092", RETAIL_KAFKA__LINGER_MS="5")
    assert load_settings().resolved_kafka().bootstrap_servers == "127.0.0.1:19092"


def test_prod_kafka_resolves_to_the_kafka_flavor_and_keeps_its_bootstrap(monkeypatch):
    setenv(monkeypatch, RETAIL_ENV="prod", RETAIL_LOCAL__BROKER_PORT="19092",
           RETAIL_KAFKA__BOOTSTRAP_SERVERS="kafka.retail.svc:9092")
    kafka = load_settings().resolved_kafka()
    assert kafka.flavor == "kafka"
    assert kafka.bootstrap_servers == "kafka.retail.svc:9092"


def test_an_explicit_flavor_is_kept(monkeypatch):
    setenv(monkeypatch, RETAIL_ENV="local", RETAIL_KAFKA__FLAVOR="kafka")
    assert load_settings().resolved_kafka().flavor == "kafka"


def test_heartbeat_must_be_at_most_a_third_of_the_session_timeout(monkeypatch):
    setenv(monkeypatch, RETAIL_KAFKA__SESSION_TIMEOUT_MS="3000",
           RETAIL_KAFKA__HEARTBEAT_INTERVAL_MS="1500")
    with pytest.raises(SettingsError, match="heartbeat_interval_ms"):
        load_settings()


def test_local_warehouse_resolves_to_the_local_server_port(monkeypatch):
    monkeypatch.setenv("RETAIL_LOCAL__WAREHOUSE_PORT", "18555")
    assert load_settings().resolved_warehouse().url == "http://127.0.0.1:18555"


def test_an_explicit_warehouse_url_is_kept_in_local_mode(monkeypatch):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", "https://ch.example.com:8443")
    wh = load_settings().resolved_warehouse()
    assert wh.url == "https://ch.example.com:8443" and wh.secure


def test_the_warehouse_password_is_required_outside_local(monkeypatch):
    monkeypatch.setenv("RETAIL_ENV", "prod")
    with pytest.raises(SettingsError, match="RETAIL_WAREHOUSE__PASSWORD is required"):
        load_settings().resolved_warehouse()
    monkeypatch.setenv("RETAIL_WAREHOUSE__PASSWORD", "a-real-secret-from-vault")
    assert load_settings().resolved_warehouse().password.get_secret_value() == \
        "a-real-secret-from-vault"


def test_a_placeholder_warehouse_password_is_refused_outside_local(monkeypatch):
    monkeypatch.setenv("RETAIL_ENV", "staging")
    monkeypatch.setenv("RETAIL_WAREHOUSE__PASSWORD", "changeme")
    with pytest.raises(SettingsError, match="RETAIL_WAREHOUSE__PASSWORD is a placeholder"):
        load_settings()


@pytest.mark.parametrize("value", ["ftp://x:1", "http://host:8123/path", "no-scheme"])
def test_a_malformed_warehouse_url_names_the_variable(monkeypatch, value):
    monkeypatch.setenv("RETAIL_WAREHOUSE__URL", value)
    with pytest.raises(SettingsError, match="RETAIL_WAREHOUSE__URL"):
        load_settings()


def test_the_stream_checkpoint_defaults_under_the_local_home_and_is_required_elsewhere(
        monkeypatch):
    monkeypatch.setenv("RETAIL_LOCAL__HOME", "/tmp/retail-home")
    assert load_settings().stream_checkpoint() == "/tmp/retail-home/checkpoints/stream"
    monkeypatch.setenv("RETAIL_STREAM__CHECKPOINT_DIR", "s3a://bucket/cp")
    assert load_settings().stream_checkpoint() == "s3a://bucket/cp"
    monkeypatch.delenv("RETAIL_STREAM__CHECKPOINT_DIR")
    monkeypatch.setenv("RETAIL_ENV", "staging")
    with pytest.raises(SettingsError, match="RETAIL_STREAM__CHECKPOINT_DIR is required"):
        load_settings().stream_checkpoint()


def test_restock_alerts_need_a_resolve_threshold_below_the_open_one(monkeypatch):
    monkeypatch.setenv("RETAIL_STREAM__RESTOCK_RISK", "0.5")
    monkeypatch.setenv("RETAIL_STREAM__RESTOCK_RESOLVE_RISK", "0.5")
    with pytest.raises(SettingsError, match="restock_resolve_risk must be below restock_risk"):
        load_settings()


def test_the_lake_defaults_under_the_local_home(monkeypatch):
    assert load_settings().lake.root == ".retail/lake"
    monkeypatch.setenv("RETAIL_LOCAL__HOME", "/tmp/retail-home")
    assert load_settings().lake.root == "/tmp/retail-home/lake"
    monkeypatch.setenv("RETAIL_LAKE__S3_REGION", "eu-west-1")  # other lake fields: same rule
    assert load_settings().lake.root == "/tmp/retail-home/lake"


@pytest.mark.parametrize("root", ["/data/lake", "s3://retail-raw-data/raw"])
def test_an_explicit_lake_root_wins_over_the_local_home(monkeypatch, root):
    setenv(monkeypatch, RETAIL_LOCAL__HOME="/tmp/retail-home", RETAIL_LAKE__ROOT=root)
    assert load_settings().lake.root == root


def test_the_lake_follows_a_home_passed_in_code():
    from retail.settings import LakeSettings, LocalSettings, Settings

    assert Settings(local=LocalSettings(home="/srv/r")).lake.root == "/srv/r/lake"
    assert Settings(local=LocalSettings(home="/srv/r"),
                    lake=LakeSettings(root="/elsewhere")).lake.root == "/elsewhere"


@pytest.mark.parametrize("value", ["2026/12/01", "20261201", "2026-02-30", "2026-12-1"])
def test_a_start_date_that_is_not_a_day_names_the_variable_and_the_format(monkeypatch, value):
    monkeypatch.setenv("RETAIL_SIMULATOR__START_DATE", value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    assert f"RETAIL_SIMULATOR__START_DATE: must be a date YYYY-MM-DD, got '{value}'" in \
        str(info.value)


def test_a_start_date_loads_as_a_date(monkeypatch):
    from datetime import date

    monkeypatch.setenv("RETAIL_SIMULATOR__START_DATE", "2026-02-03")
    assert load_settings().simulator.start_date == date(2026, 2, 3)


def test_the_broker_and_the_warehouse_need_two_ports(monkeypatch):
    setenv(monkeypatch, RETAIL_LOCAL__BROKER_PORT="9300", RETAIL_LOCAL__WAREHOUSE_PORT="9300")
    with pytest.raises(SettingsError, match="RETAIL_LOCAL__BROKER_PORT and "
                       "RETAIL_LOCAL__WAREHOUSE_PORT must differ"):
        load_settings()


@pytest.mark.parametrize("same", [("BROKER", "MLFLOW"), ("MLFLOW", "WAREHOUSE")])
def test_the_local_mlflow_server_needs_a_port_of_its_own(monkeypatch, same):
    setenv(monkeypatch, **{f"RETAIL_LOCAL__{name}_PORT": "9400" for name in same})
    with pytest.raises(SettingsError, match=f"RETAIL_LOCAL__{same[0]}_PORT and "
                       f"RETAIL_LOCAL__{same[1]}_PORT must differ"):
        load_settings()


@pytest.mark.parametrize(("name", "value", "field"), [
    ("RETAIL_REPLENISHMENT__SERVICE_LEVEL_A", "0.90", "SERVICE_LEVEL_A >= ..._B >= ..._C"),
    ("RETAIL_REPLENISHMENT__SERVICE_LEVEL_B", "1.2", "RETAIL_REPLENISHMENT__SERVICE_LEVEL_B"),
    ("RETAIL_FORECAST__BACKTEST_ORIGINS", "3", "RETAIL_FORECAST__BACKTEST_ORIGINS"),
    ("RETAIL_MLFLOW__TRACKING_URI", "localhost:5000", "RETAIL_MLFLOW__TRACKING_URI"),
])
def test_bad_model_settings_fail_naming_the_variable(monkeypatch, name, value, field):
    setenv(monkeypatch, **{name: value})
    with pytest.raises(SettingsError, match=field.replace(".", r"\.")):
        load_settings()


def test_the_model_settings_defaults():
    s = load_settings()
    assert (s.replenishment.service_level_a, s.replenishment.service_level_b,
            s.replenishment.service_level_c) == (0.98, 0.95, 0.90)
    assert (s.forecast.horizon_days, s.forecast.backtest_origins) == (7, 4)
    assert s.mlflow.tracking_uri is None and s.local.mlflow_port == 5000


def test_the_local_spark_heap_is_a_size(monkeypatch):
    assert load_settings().stream.spark_driver_memory == "6g"
    monkeypatch.setenv("RETAIL_STREAM__SPARK_DRIVER_MEMORY", "6000m")
    assert load_settings().stream.spark_driver_memory == "6000m"
