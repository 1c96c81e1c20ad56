"""The model registry (MLflow): every MLflow client call of the platform in one place.

One experiment and one registered model per model, both named ``<prefix>.<model>``
(``retail.demand_forecast``). A training is one run (parameters, the backtest's metrics and
its baselines', feature importance, the model in MLflow's Spark flavor) and one registered
version. The ``champion`` alias marks the version the jobs use; it moves only by the rule in
:meth:`Registry.decide_promotion` (strictly better on the same backtest origins) or by a person
(:meth:`Registry.promote`), and both leave their reason on the version's tags. docs/models.md.
"""

from __future__ import annotations

import getpass
import os
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException

from retail.settings import Settings, SettingsError

CHAMPION = "champion"
MODEL_ARTIFACT = "model"  # the run's folder holding the MLflow model (Spark flavor)
TAG = "promotion."  # prefix of the rule's decision's tags on versions and runs
MANUAL = "manual."  # prefix of a promotion by hand's tags on the version


class RegistryError(RuntimeError):
    """The registry could not be reached or refused a call; the message says what to do."""


class NoChampion(RegistryError, LookupError):
    """A model has no champion yet (a fresh install before its first training, or no version
    has beaten its baseline): scoring has nothing to score with. The message says to train
    it first. The model jobs exit 3 on it (not 1), so a schedule can tell "not trained yet"
    from a failure."""


def tracking_uri(settings: Settings) -> str:
    """``RETAIL_MLFLOW__TRACKING_URI``, else (locally) the server ``retail local up`` starts."""
    if settings.mlflow.tracking_uri:
        return settings.mlflow.tracking_uri
    if settings.env != "local":
        raise SettingsError(f"RETAIL_MLFLOW__TRACKING_URI is required for env={settings.env} "
                            "(the chart sets it to its MLflow service)")
    return f"http://127.0.0.1:{settings.local.mlflow_port}"


@dataclass(frozen=True)
class Training:
    """What :meth:`Registry.log_training` recorded."""

    name: str  # registered model and experiment
    run_id: str
    version: str | None  # None: no model was given, nothing registered


@dataclass(frozen=True)
class Promotion:
    """A promotion decision: whether ``version`` became the champion, and why."""

    name: str
    version: str
    metric: str
    candidate_score: float
    champion_version: str | None
    champion_score: float | None
    promoted: bool
    reason: str


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str | None
    aliases: tuple[str, ...]
    created_ms: int
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)  # its run's parameters

    @property
    def is_champion(self) -> bool:
        return CHAMPION in self.aliases


class Registry:
    """The registry client of the jobs and of ``retail models``.

    Args:
        uri: the tracking server (``http(s)://``) or a local store (``file://``, ``sqlite://``).
        prefix: the first part of experiment and model names (``RETAIL_MLFLOW__PREFIX``).
        client: a ready client (tests); by default one on ``uri``.
    """

    def __init__(self, uri: str, prefix: str = "retail", client: MlflowClient | None = None,
                 timeout_s: float = 60.0):
        self.uri, self.prefix = uri, prefix
        # The client reads its HTTP timeout from the environment only (RETAIL_MLFLOW__REQUEST_
        # TIMEOUT_S); an MLFLOW_HTTP_REQUEST_TIMEOUT already set wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(int(timeout_s)))
        # a job's log and a command's output get no per-file progress bars of downloads
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        if client is None and uri.startswith(("http://", "https://")):
            self._check_reachable(min(timeout_s, 10.0))
        self.client = client or MlflowClient(tracking_uri=uri, registry_uri=uri)

    @classmethod
    def from_settings(cls, settings: Settings) -> Registry:
        return cls(tracking_uri(settings), settings.mlflow.prefix,
                   timeout_s=settings.mlflow.request_timeout_s)

    def _check_reachable(self, timeout_s: float) -> None:
        # The client retries an unreachable server for minutes; say so at once instead.
        try:
            with urllib.request.urlopen(f"{self.uri.rstrip('/')}/health", timeout=timeout_s):
                return
        except OSError as exc:
            raise RegistryError(
                f"the MLflow server at {self.uri} does not answer ({exc}): start it with "
                "`retail local up`, or point RETAIL_MLFLOW__TRACKING_URI at a running "
                "server") from None

    def name(self, model: str) -> str:
        """``demand_forecast`` -> ``retail.demand_forecast`` (a full name stays as it is)."""
        return model if model.startswith(f"{self.prefix}.") else f"{self.prefix}.{model}"

    # --- training ---------------------------------------------------------------------------
    def log_training(self, model: str, params: Mapping[str, Any], metrics: Mapping[str, float],
                     spark_model: Any = None, *,
                     baselines: Mapping[str, Mapping[str, float]] | None = None,
                     feature_importance: Mapping[str, float] | None = None,
                     artifacts: Mapping[str, str | Path] | None = None,
                     tags: Mapping[str, str] | None = None,
                     model_dir: str | Path | None = None) -> Training:
        """Log one training run and register its model as a new version.

        Args:
            model: the model's short name (``demand_forecast``).
            params: the training's parameters.
            metrics: the backtest's metrics of the model (``wape``, ``bias``...).
            spark_model: a fitted Spark ML model (a ``PipelineModel``), saved in MLflow's
                Spark flavor under the run's ``model/`` and registered; None registers nothing.
            baselines: each baseline's metrics, logged as ``baseline.<name>.<metric>``.
            feature_importance: feature -> importance, logged as ``feature_importance.json``.
            artifacts: run folder -> local file or directory (plots, the backtest's table).
            tags: run tags (the data's dates, the job's image...).
            model_dir: a model that is not a Spark ML one (scikit-learn estimators saved by
                the caller, say): the folder is uploaded as the run's ``model/`` and
                registered as the version; read it back with :meth:`download`. Exclusive
                with ``spark_model``.
        """
        if spark_model is not None and model_dir is not None:
            raise ValueError("log_training takes spark_model or model_dir, not both")
        name = self.name(model)
        run = self._call(lambda: self.client.create_run(
            self._experiment_id(name), tags=dict(tags or {})))
        run_id = run.info.run_id
        now = int(time.time() * 1000)
        logged = {k: float(v) for k, v in metrics.items()}
        for baseline, values in (baselines or {}).items():
            logged.update({f"baseline.{baseline}.{k}": float(v) for k, v in values.items()})
        self._call(lambda: self.client.log_batch(
            run_id, metrics=[Metric(k, v, now, 0) for k, v in logged.items()],
            params=[Param(k, str(v)) for k, v in params.items()]))
        if feature_importance:
            self.client.log_dict(run_id, {k: float(v) for k, v in sorted(
                feature_importance.items(), key=lambda kv: -kv[1])}, "feature_importance.json")
        for folder, path in (artifacts or {}).items():
            path = Path(path)
            if path.is_dir():
                self.client.log_artifacts(run_id, str(path), folder)
            else:
                self.client.log_artifact(run_id, str(path), folder)
        version = None
        if spark_model is not None:
            version = self._register_spark_model(name, run_id, spark_model)
        elif model_dir is not None:
            self.client.log_artifacts(run_id, str(model_dir), MODEL_ARTIFACT)
            version = self._register_version(name, run_id)
        self.client.set_terminated(run_id)
        return Training(name, run_id, version)

    def _experiment_id(self, name: str) -> str:
        experiment = self._call(lambda: self.client.get_experiment_by_name(name))
        return experiment.experiment_id if experiment else self.client.create_experiment(name)

    def _register_spark_model(self, name: str, run_id: str, spark_model: Any) -> str:
        # save_model to a local folder, then upload: mlflow.spark.log_model would first try
        # Spark's own writer on the run's mlflow-artifacts:/ URI, which Hadoop cannot open
        # (an ERROR with a Java stack trace in every job's log), before doing the same.
        import mlflow.spark

        with tempfile.TemporaryDirectory(prefix="retail-model-") as tmp:
            # The flavor's own requirements (pyspark==<this>): inferring them would load the
            # model again in a second Python with a Spark of its own (a minute per training).
            mlflow.spark.save_model(spark_model, str(Path(tmp) / MODEL_ARTIFACT),
                                    pip_requirements=mlflow.spark.get_default_pip_requirements())
            self.client.log_artifacts(run_id, str(Path(tmp) / MODEL_ARTIFACT), MODEL_ARTIFACT)
        return self._register_version(name, run_id)

    def _register_version(self, name: str, run_id: str) -> str:
        try:
            self.client.get_registered_model(name)
        except MlflowException:
            self.client.create_registered_model(name)
        return self.client.create_model_version(
            name, f"runs:/{run_id}/{MODEL_ARTIFACT}", run_id=run_id).version

    # --- promotion --------------------------------------------------------------------------
    def decide_promotion(self, model: str, version: str | int, candidate_score: float,
                         champion_score: float | None, metric: str = "wape", *,
                         greater_is_better: bool = False,
                         origins: Sequence[str] = (),
                         baseline: tuple[str, float] | None = None) -> Promotion:
        """Make ``version`` the champion only if it beats the current one.

        Both scores must come from the same backtest origins (``origins``, recorded): the
        candidate's and the current champion's, scored again by the caller. The alias moves
        when there is no champion or the candidate is strictly better; a tie keeps the
        champion. With ``baseline`` (its name and score on the same origins) the candidate
        must also beat it strictly: a model that does not beat its baseline is never
        served, not even the first. The decision, the figures and the reason go on the
        version's tags and on the candidate's run.
        """
        name, version = self.name(model), str(version)
        current = self.champion(model)
        if current is not None and current.version != version and champion_score is None:
            raise RegistryError(f"{name} has a champion (version {current.version}): score it "
                                "on the same backtest origins and pass champion_score")
        if current is None:
            promoted, reason = True, "no champion yet"
        elif current.version == version:
            promoted, reason = True, "already the champion"
        else:
            better = (candidate_score > champion_score if greater_is_better
                      else candidate_score < champion_score)
            promoted = better
            word = "beats" if better else "does not beat"
            reason = (f"{metric} {candidate_score:.6g} {word} the champion's (version "
                      f"{current.version}) {champion_score:.6g} on the same origins")
        renewed = current is not None and current.version == version
        if promoted and baseline is not None and not renewed:
            name_b, score_b = baseline
            beats = (candidate_score > score_b if greater_is_better
                     else candidate_score < score_b)
            if not beats:
                promoted = False
                reason = (f"{metric} {candidate_score:.6g} does not beat the {name_b} "
                          f"baseline's {score_b:.6g} on the same origins")
        decision = Promotion(name, version, metric, float(candidate_score),
                             current.version if current else None,
                             None if champion_score is None else float(champion_score),
                             promoted, reason)
        if promoted:
            self._call(lambda: self.client.set_registered_model_alias(name, CHAMPION, version))
        self._record(decision, origins)
        return decision

    def _record(self, d: Promotion, origins: Sequence[str]) -> None:
        tags = {"decision": "promoted" if d.promoted else "rejected", "reason": d.reason,
                "metric": d.metric, f"candidate_{d.metric}": repr(d.candidate_score),
                "champion_version": d.champion_version or "",
                f"champion_{d.metric}": "" if d.champion_score is None else repr(d.champion_score),
                "origins": ",".join(origins), "decided_at": time.strftime("%FT%TZ", time.gmtime())}
        for key, value in tags.items():
            self.client.set_model_version_tag(d.name, d.version, TAG + key, value)
        run_id = self.client.get_model_version(d.name, d.version).run_id
        if run_id:
            now = int(time.time() * 1000)
            figures = [Metric(f"{TAG}candidate_{d.metric}", d.candidate_score, now, 0)]
            if d.champion_score is not None:
                figures.append(Metric(f"{TAG}champion_{d.metric}", d.champion_score, now, 0))
            self.client.log_batch(run_id, metrics=figures, tags=[
                RunTag(TAG + k, tags[k]) for k in ("decision", "reason", "champion_version")])

    def promote(self, model: str, version: str | int, reason: str,
                by: str | None = None) -> str | None:
        """Move the ``champion`` alias to ``version`` by hand; return the previous champion.

        Who (``by``, default the OS user), why and the previous champion are recorded on the
        version's ``manual.*`` tags, beside (not over) the rule's ``promotion.*`` decision.
        """
        name, version = self.name(model), str(version)
        self._call(lambda: self.client.get_model_version(name, version))  # it must exist
        previous = self.champion(model)
        self.client.set_registered_model_alias(name, CHAMPION, version)
        for key, value in {"by": by or getpass.getuser(), "reason": reason,
                           "previous_champion": previous.version if previous else "",
                           "at": time.strftime("%FT%TZ", time.gmtime())}.items():
            self.client.set_model_version_tag(name, version, MANUAL + key, value)
        return previous.version if previous else None

    # --- reading ----------------------------------------------------------------------------
    def champion(self, model: str) -> VersionInfo | None:
        """The champion version of ``model``, or None (no champion, or no such model)."""
        try:
            mv = self.client.get_model_version_by_alias(self.name(model), CHAMPION)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise RegistryError(f"{self.uri}: {exc.message}") from None
        return self._info(mv)

    def require_champion(self, model: str, how: str) -> VersionInfo:
        """The champion version of ``model``.

        Raises:
            NoChampion: it has none; the message says to train it first (``how``).
        """
        info = self.champion(model)
        if info is None:
            raise NoChampion(f"{self.name(model)} has no champion at {self.uri}: train it "
                             f"first ({how}); a version becomes the champion only when it "
                             "beats its baseline (its promotion.reason tag says)")
        return info

    def versions(self, model: str) -> list[VersionInfo]:
        """Every version of ``model``, newest first, with its run's metrics."""
        name = self.name(model)
        found = self._call(lambda: self.client.search_model_versions(f"name = '{name}'"))
        if not found:
            return []
        # A search leaves the versions' aliases out; the registered model has them all.
        aliases: dict[str, list[str]] = {}
        for alias, version in self.client.get_registered_model(name).aliases.items():
            aliases.setdefault(str(version), []).append(alias)
        return sorted((self._info(mv, tuple(sorted(aliases.get(str(mv.version), ()))))
                       for mv in found), key=lambda v: -int(v.version))

    def models(self) -> list[str]:
        """The registered models under the prefix, by name."""
        found = self._call(lambda: self.client.search_registered_models(
            f"name LIKE '{self.prefix}.%'"))
        return sorted(m.name for m in found)

    def load_champion(self, model: str) -> Any:
        """The champion's Spark model (a ``PipelineModel``), loaded in the active session."""
        current = self.champion(model)
        if current is None:
            raise NoChampion(f"{self.name(model)} has no champion at {self.uri}: train it "
                             "first (or `retail models promote NAME VERSION`)")
        return self.load_model(current)

    def load_model(self, info: VersionInfo) -> Any:
        """The Spark model of one version, loaded in the active session."""
        import mlflow.artifacts
        import mlflow.spark

        with tempfile.TemporaryDirectory(prefix="retail-model-") as tmp:
            # The version's own artifact URI: a models:/ URI would be resolved against the
            # process's default registry, not this one.
            source = self.client.get_model_version_download_uri(info.name, info.version)
            local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=tmp,
                                                        tracking_uri=self.uri)
            return mlflow.spark.load_model(local)

    def download(self, info: VersionInfo, path: str, dst: str | Path) -> Path:
        """A file or folder ``path`` of the version's run (``log_training``'s artifacts),
        copied under ``dst``."""
        if not info.run_id:
            raise RegistryError(f"{info.name} version {info.version} has no run")
        return Path(self._call(lambda: self.client.download_artifacts(
            info.run_id, path, str(dst))))

    def _info(self, mv: Any, aliases: tuple[str, ...] | None = None) -> VersionInfo:
        data = self.client.get_run(mv.run_id).data if mv.run_id else None
        aliases = tuple(mv.aliases or ()) if aliases is None else aliases
        return VersionInfo(mv.name, str(mv.version), mv.run_id, aliases,
                           int(mv.creation_timestamp or 0), dict(mv.tags or {}),
                           dict(data.metrics) if data else {}, dict(data.params) if data else {})

    def _call(self, fn):
        try:
            return fn()
        except MlflowException as exc:
            raise RegistryError(f"MLflow at {self.uri}: {exc.message}") from None
