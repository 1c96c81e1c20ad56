"""Typed settings for every job, CLI verb and service.

One class tree, read from the environment with the ``RETAIL_`` prefix and ``__`` between
nesting levels, e.g. ``RETAIL_KAFKA__BOOTSTRAP_SERVERS=broker:9092`` or
``RETAIL_SIMULATOR__STORES=1000``. Empty variables are ignored, unknown ``RETAIL_``
variables are errors (in :func:`load_settings`), and every error names the environment
variable to fix.

The environment variable names documented here are the contract between a job's image
and whatever launches it (Helm chart, Airflow's KubernetesPodOperator, Tilt).
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import (BaseModel, Field, SecretStr, ValidationError, field_validator,
                      model_validator)
from pydantic_settings import BaseSettings, SettingsConfigDict

from retail.dashboard.settings import DashboardSettings
from retail.ml.anomalies.settings import AnomalySettings
from retail.ml.recommendations.settings import RecommendationSettings
from retail.ml.settings import ForecastSettings, MlflowSettings, ReplenishmentSettings
from retail.ml.slow_movers.settings import SlowMoverSettings

ENV_PREFIX = "RETAIL_"
ENV_DELIMITER = "__"

# Where the local stack keeps its state; the lake defaults to <home>/lake.
DEFAULT_HOME = Path(".retail")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

# Values that mean "nobody set a real secret"; refused outside local mode.
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "password", "secret", "admin", "minioadmin"}


class SettingsError(ValueError):
    """Raised when settings are invalid; the message names each offending variable."""


class _Section(BaseModel):
    model_config = {"extra": "forbid", "frozen": True}


class KafkaSettings(_Section):
    """Kafka client settings shared by producers, consumers and admin calls."""

    bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1)
    client_id: str = "retail-platform"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    # "tansu" turns on the workarounds for the local broker's quirks (high watermark);
    # production Kafka (Strimzi) is "kafka"; "auto" picks tansu for env=local.
    flavor: Literal["auto", "kafka", "tansu"] = "auto"
    linger_ms: int = Field(20, ge=0, le=10_000)
    batch_size: int = Field(1024 * 1024, ge=1024, le=16 * 1024 * 1024)
    retries: int = Field(10, ge=0)
    request_timeout_ms: int = Field(30_000, ge=1_000)
    delivery_timeout_ms: int = Field(120_000, ge=1_000)
    # The contract check and encoding run in Python; producer processes scale them across cores.
    producer_workers: int = Field(2, ge=1, le=32)
    session_timeout_ms: int = Field(6_000, ge=1_000)
    heartbeat_interval_ms: int = Field(1_000, ge=100)

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL") and not (
            self.sasl_mechanism and self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                "security_protocol SASL_* needs sasl_mechanism, sasl_username and sasl_password"
            )
        if self.heartbeat_interval_ms * 3 > self.session_timeout_ms:
            raise ValueError("heartbeat_interval_ms must be at most a third of session_timeout_ms")
        return self

    def client_config(self) -> dict[str, object]:
        """Keyword arguments common to every kafka-python client (admin, offsets, reading
        back); the librdkafka clients use :func:`retail.io.kafka_fetch.librdkafka_config`."""
        cfg: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers.split(","),
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.sasl_mechanism:
            cfg["sasl_mechanism"] = self.sasl_mechanism
            cfg["sasl_plain_username"] = self.sasl_username
            cfg["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.ssl_cafile:
            cfg["ssl_cafile"] = str(self.ssl_cafile)
        return cfg


class LocalSettings(_Section):
    """The embedded local stack (`retail local up`)."""

    home: Path = DEFAULT_HOME
    broker_port: int = Field(9092, ge=1024, le=65535)
    # memory:// forgets everything when the broker stops; s3:// (with AWS_* variables)
    # survives restarts.
    storage_engine: str = Field("memory://tansu/", pattern=r"^(memory|s3)://")
    start_timeout_s: float = Field(15.0, gt=0)
    warehouse_port: int = Field(8123, ge=1024, le=65535)
    # Queries the local warehouse server runs at once (ClickHouse's max_concurrent_queries).
    warehouse_max_queries: int = Field(100, ge=1, le=10_000)
    # The local MLflow server (tracking, registry, UI).
    mlflow_port: int = Field(5000, ge=1024, le=65535)

    @model_validator(mode="after")
    def _distinct_ports(self) -> LocalSettings:
        ports = {"RETAIL_LOCAL__BROKER_PORT": self.broker_port,
                 "RETAIL_LOCAL__WAREHOUSE_PORT": self.warehouse_port,
                 "RETAIL_LOCAL__MLFLOW_PORT": self.mlflow_port}
        names = sorted(ports)
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                if ports[a] == ports[b]:
                    raise ValueError(f"{a} and {b} must differ (both are {ports[a]})")
        return self


class AirflowSettings(_Section):
    """The local Airflow: ``retail pipeline run`` (``airflow dags test``) and the API server,
    scheduler, DAG processor and triggerer of ``retail local up --with-airflow``.

    Environment: ``RETAIL_AIRFLOW__*``. Airflow runs from its own virtualenv (its pins are
    not the platform's); its home, SQLite metadata database and logs are
    ``<local.home>/airflow``.
    """

    # None: <repo>/.venv-airflow, which `make install` creates.
    venv: Path | None = None
    # The repository holding dags/ and jobs/; None: the one this package is installed from
    # (an editable install, as `make install` makes).
    repo: Path | None = None
    # The API server and its UI, on 127.0.0.1 only.
    api_port: int = Field(8080, ge=1024, le=65535)
    # Tasks the local scheduler's LocalExecutor runs at once (Spark jobs take a 6g heap each).
    parallelism: int = Field(2, ge=1, le=32)
    # Seconds the four processes may take to report healthy on /api/v2/monitor/health.
    start_timeout_s: float = Field(120.0, gt=0)


class LakeSettings(_Section):
    """Where raw and processed Parquet goes: a local directory or ``s3://bucket/prefix``.

    Unless ``RETAIL_LAKE__ROOT`` is set, :class:`Settings` puts it in ``<local.home>/lake``.
    """

    root: str = str(DEFAULT_HOME / "lake")
    s3_endpoint: str | None = None
    s3_region: str = "us-east-1"
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_tls: bool = True
    # The object store's buckets (`retail lake init`; docs/lake.md says what lives where) and
    # how long objects stay: lifecycle rules, enforced by the store, not by the platform.
    raw_bucket: str = "retail-raw-data"
    processed_bucket: str = "retail-processed-data"
    models_bucket: str = "retail-models"
    features_bucket: str = "retail-features"
    raw_retention_days: int = Field(90, ge=1)
    processed_retention_days: int = Field(730, ge=1)
    features_retention_days: int = Field(730, ge=1)
    # Older versions of an overwritten or deleted object in a versioned bucket (processed,
    # models): the window to undo a bad re-run.
    noncurrent_retention_days: int = Field(7, ge=1)

    @field_validator("raw_bucket", "processed_bucket", "models_bucket", "features_bucket")
    @classmethod
    def _s3_bucket_name(cls, name: str) -> str:
        """The S3 naming rules MinIO and AWS both enforce (general purpose buckets)."""
        why = None
        if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", name):
            why = ("3-63 characters of a-z, 0-9, '.' and '-', beginning and ending with a "
                   "letter or digit")
        elif ".." in name or ".-" in name or "-." in name:
            why = "no '..', '.-' or '-.'"
        elif re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name):
            why = "not an IP address"
        elif name.startswith(("xn--", "sthree-")) or name.endswith(("-s3alias", "--ol-s3")):
            why = "no prefix xn-- or sthree-, no suffix -s3alias or --ol-s3"
        if why:
            raise ValueError(f"{name!r} is not a valid S3 bucket name ({why})")
        return name

    @model_validator(mode="after")
    def _distinct_buckets(self) -> LakeSettings:
        names = [self.raw_bucket, self.processed_bucket, self.models_bucket,
                 self.features_bucket]
        if len(set(names)) < len(names):
            raise ValueError("RETAIL_LAKE__RAW_BUCKET, __PROCESSED_BUCKET, __MODELS_BUCKET and "
                             f"__FEATURES_BUCKET must differ (got {', '.join(names)})")
        return self

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")


class WarehouseSettings(_Section):
    """ClickHouse over its HTTP interface (clickhouse-connect), in production and locally.

    Locally ``url`` defaults to the local warehouse server (``retail warehouse serve``, started
    by ``retail local up``) on ``127.0.0.1:<local.warehouse_port>``.
    """

    url: str = Field("http://127.0.0.1:8123", pattern=r"^https?://[^/\s]+/?$")
    user: str = Field("default", min_length=1)
    password: SecretStr | None = None
    database: str = Field("retail", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    verify_tls: bool = True
    ca_cert: Path | None = None
    connect_timeout_s: float = Field(10.0, gt=0)
    query_timeout_s: float = Field(300.0, gt=0)
    # lz4 on the wire; None = on, except to a server on loopback (where it only costs CPU).
    compress: bool | None = None

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")


class SimulatorSettings(_Section):
    """Defaults for the POS simulator; CLI flags override them."""

    seed: int = Field(42, ge=0)
    stores: int = Field(20, ge=1, le=5_000)
    products: int = Field(2_000, ge=10, le=200_000)
    # Design volume is 100-500 events per minute per store while open.
    rate: float = Field(200.0, gt=0, le=5_000)
    start_date: date | None = None
    # The chain's country: its public holidays (the `holidays` package) are the calendar of
    # the simulated demand and of dim_date. An ISO 3166-1 code the package knows.
    country: str = "US"

    @field_validator("start_date", mode="before")
    @classmethod
    def _iso_day(cls, value: object) -> object:
        return parse_day(value) if isinstance(value, str) else value

    @field_validator("country")
    @classmethod
    def _known_country(cls, value: str) -> str:
        import holidays  # only here: the package is large and few settings users need it

        if value not in holidays.list_supported_countries():
            raise ValueError(f"{value!r} is not a country the holidays package knows: use an "
                             "ISO 3166-1 code in upper case such as US, CA, GB or DE")
        return value


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` and nothing else (not ``20261201``, not ``2026/12/01``)."""
    try:
        if _ISO_DAY.fullmatch(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise ValueError(f"must be a date YYYY-MM-DD, got {text!r}")


class StreamSettings(_Section):
    """The stream processor (``retail stream run``, ``jobs/stream_processor.py``).

    Environment: ``RETAIL_STREAM__*``. Thresholds are the anomaly and restock rules; the
    checkpoint holds Spark's offsets and deduplication state (keep it on durable storage:
    the lake bucket in a cluster).
    """

    # Spark's checkpoint: a directory, or s3a://bucket/prefix in a cluster. Required outside
    # env=local; locally it defaults to <local.home>/checkpoints/stream.
    checkpoint_dir: str | None = None
    # "auto": Spark's JVM kafka connector when it is on the classpath, else the Python source.
    source: Literal["auto", "jvm", "python"] = "auto"
    spark_master: str = "local[2]"
    # The heap of the Spark JVM the jobs start themselves (local mode, where the driver runs
    # the tasks): 6g trains the demo's forecast (1,600 series x 63 days, make demo) and the
    # benchmarks' (2,898 series); 4g ran out there, as Spark's own default, 1g, does on 35
    # days. Under spark-submit (a SparkApplication) its spec sets the memory.
    spark_driver_memory: str = Field("6g", pattern=r"^[1-9][0-9]*[mg]$")
    shuffle_partitions: int = Field(2, ge=1, le=10_000)
    trigger_seconds: float = Field(1.0, ge=0)
    max_offsets_per_trigger: int | None = Field(50_000, ge=1)
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    late_after_minutes: float = Field(10.0, gt=0, description="watermark delay")
    # Spark's own memory of (event_id, content) in front of the warehouse's: 0 (the default)
    # leaves copies to the warehouse's event memory alone, which catches every one of them;
    # above 0, a state store (a shuffle and a RocksDB look-up per record) drops copies seen
    # within that many minutes first.
    dedup_minutes: float = Field(0.0, ge=0, description="Spark's event_id memory, minutes "
                                 "(0: off)")
    max_future_minutes: float = Field(5.0, ge=0)
    max_event_bytes: int = Field(65_536, ge=1_024)
    reference_refresh_minutes: float = Field(15.0, gt=0)
    key_cache_keys: int = Field(250_000, ge=0, description="store x SKU states kept in "
                                "memory between batches (~0.6 KB each; 0: off)")
    # anomaly rules
    spike_z: float = Field(3.5, gt=0, description="robust z-score for sales spikes and drops")
    baseline_windows: int = Field(12, ge=3, description="past 5-minute windows in a baseline")
    high_value_transaction: float = Field(2_000.0, gt=0, description="basket total, currency")
    price_change_pct: float = Field(50.0, gt=0, description="suspicious price move, percent")
    # restock rule: risk = lead time / days of cover, capped at 1
    velocity_half_life_hours: float = Field(24.0, gt=0)
    restock_risk: float = Field(0.8, gt=0, le=1)
    restock_resolve_risk: float = Field(0.5, ge=0, le=1)
    review_period_days: float = Field(7.0, gt=0, description="order covers lead time + this")

    @model_validator(mode="after")
    def _hysteresis(self) -> StreamSettings:
        if self.restock_resolve_risk >= self.restock_risk:
            raise ValueError("restock_resolve_risk must be below restock_risk "
                             "(otherwise alerts flap open and closed)")
        return self


class DqSettings(_Section):
    """The data-quality checks (``retail dq run``, ``jobs/data_quality.py``).

    Environment: ``RETAIL_DQ__*``. The checks and their thresholds are declared in
    ``retail.dq.checks``; these settings say which stretch of time a run looks at, how long
    the ``bi_`` views may take, and whether failing ``error`` checks raise alerts.
    """

    # Hour-grain checks (silent stores, volume, quarantine share) look at the complete UTC
    # hours of this many hours before the run.
    lookback_hours: int = Field(24, ge=1, le=168)
    # Day-grain checks (days missing, consistency, duplicates) look at this many store-local
    # days up to today.
    lookback_days: int = Field(7, ge=1, le=366)
    # A failing error check writes a row to stream_alerts (alert_type data_quality).
    alerts: bool = True
    # Milliseconds a bi_ view may take to answer its bounded query (the bi.latency.* checks,
    # run every 15 minutes by the bi_prepare DAG and in the hourly run); 0 fails them all.
    bi_budget_ms: int = Field(2000, ge=0, le=600_000)


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "console"


class Settings(BaseSettings):
    """Root of the settings tree."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_DELIMITER,
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
    )

    env: Literal["local", "dev", "staging", "prod"] = "local"
    kafka: KafkaSettings = KafkaSettings()
    local: LocalSettings = LocalSettings()
    lake: LakeSettings = LakeSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    warehouse: WarehouseSettings = WarehouseSettings()
    stream: StreamSettings = StreamSettings()
    dq: DqSettings = DqSettings()
    mlflow: MlflowSettings = MlflowSettings()
    airflow: AirflowSettings = AirflowSettings()
    forecast: ForecastSettings = ForecastSettings()
    replenishment: ReplenishmentSettings = ReplenishmentSettings()
    anomalies: AnomalySettings = AnomalySettings()
    slow_movers: SlowMoverSettings = SlowMoverSettings()
    recommendations: RecommendationSettings = RecommendationSettings()
    dashboard: DashboardSettings = DashboardSettings()
    log: LogSettings = LogSettings()

    @model_validator(mode="before")
    @classmethod
    def _lake_under_home(cls, data: object) -> object:
        """Without an explicit ``lake.root`` the lake is ``<local.home>/lake``: all local state
        moves with ``RETAIL_LOCAL__HOME``."""
        if not isinstance(data, dict):
            return data
        local, lake = data.get("local"), data.get("lake")
        home = local.home if isinstance(local, LocalSettings) else (
            local.get("home", DEFAULT_HOME) if isinstance(local, dict) else DEFAULT_HOME)
        if isinstance(lake, LakeSettings):
            lake = lake.model_dump(exclude_unset=True)
        if not isinstance(home, (str, Path)) or not isinstance(lake, dict | None) \
                or (lake or {}).get("root"):
            return data  # invalid values are reported by the fields' own validation
        return {**data, "lake": {**(lake or {}), "root": str(Path(home) / "lake")}}

    @model_validator(mode="after")
    def _service_ports_are_their_own(self) -> Settings:
        ports = {"RETAIL_LOCAL__BROKER_PORT": self.local.broker_port,
                 "RETAIL_LOCAL__WAREHOUSE_PORT": self.local.warehouse_port,
                 "RETAIL_LOCAL__MLFLOW_PORT": self.local.mlflow_port}
        for own, own_port in (("RETAIL_AIRFLOW__API_PORT", self.airflow.api_port),
                              ("RETAIL_DASHBOARD__PORT", self.dashboard.port)):
            for name, port in ports.items():
                if port == own_port:
                    raise ValueError(f"{own} and {name} must differ (both are {port})")
            ports[own] = own_port
        return self

    @model_validator(mode="after")
    def _no_placeholder_secrets_outside_local(self) -> Settings:
        if self.env == "local":
            return self
        for loc, secret in (
            (("kafka", "sasl_password"), self.kafka.sasl_password),
            (("lake", "s3_secret_key"), self.lake.s3_secret_key),
            (("warehouse", "password"), self.warehouse.password),
        ):
            if secret is not None and secret.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
                raise ValueError(f"{env_var_name(loc)} is a placeholder; set a real secret "
                                 f"for env={self.env}")
        return self


    def resolved_kafka(self) -> KafkaSettings:
        """Kafka settings with ``auto`` values resolved.

        For ``env=local`` the flavor is ``tansu`` and, unless set explicitly, the bootstrap
        address is the local broker's (``127.0.0.1:<local.broker_port>``).
        """
        update: dict[str, object] = {}
        if self.kafka.flavor == "auto":
            update["flavor"] = "tansu" if self.env == "local" else "kafka"
        if self.env == "local" and "bootstrap_servers" not in self.kafka.model_fields_set:
            update["bootstrap_servers"] = f"127.0.0.1:{self.local.broker_port}"
        return self.kafka.model_copy(update=update)


    def resolved_warehouse(self) -> WarehouseSettings:
        """Warehouse settings; for ``env=local`` the URL defaults to the local server.

        Outside local mode a password is required (no passwordless default user).
        """
        if self.env != "local" and self.warehouse.password is None:
            raise SettingsError(f"RETAIL_WAREHOUSE__PASSWORD is required for env={self.env} "
                                "(mount it from a Secret)")
        if self.env == "local" and "url" not in self.warehouse.model_fields_set:
            return self.warehouse.model_copy(
                update={"url": f"http://127.0.0.1:{self.local.warehouse_port}"})
        return self.warehouse


    def stream_checkpoint(self) -> str:
        """Where the stream keeps its checkpoint (see ``StreamSettings.checkpoint_dir``)."""
        if self.stream.checkpoint_dir:
            return self.stream.checkpoint_dir
        if self.env != "local":
            raise SettingsError(f"RETAIL_STREAM__CHECKPOINT_DIR is required for env={self.env} "
                                "(durable storage, e.g. s3a://retail-processed-data/checkpoints)")
        return str(self.local.home / "checkpoints" / "stream")


def env_var_name(loc: tuple[object, ...]) -> str:
    """The environment variable behind a pydantic error location."""
    parts = [str(p) for p in loc if not isinstance(p, int)]
    return ENV_PREFIX + ENV_DELIMITER.join(p.upper() for p in parts)


def error_message(err: dict) -> str:
    """A pydantic error's message without pydantic's "Value error, " prefix."""
    return str(err["msg"]).removeprefix("Value error, ")


def _unknown_variables() -> list[str]:
    """``RETAIL_*`` variables whose first part names no setting (pydantic ignores those)."""
    known = {name.upper() for name in Settings.model_fields}
    return sorted(
        f"{key}: unknown setting (known: {', '.join(ENV_PREFIX + k for k in sorted(known))})"
        for key, value in os.environ.items()
        if key.startswith(ENV_PREFIX) and value != ""
        and key[len(ENV_PREFIX):].split(ENV_DELIMITER)[0] not in known
    )


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise :class:`SettingsError` naming each bad field."""
    unknown = _unknown_variables()
    if unknown:
        raise SettingsError("invalid settings:\n  " + "\n  ".join(unknown))
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err.get("loc", ()))
            where = env_var_name(loc) if loc else ENV_PREFIX + "*"
            lines.append(f"{where}: {error_message(err)}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
