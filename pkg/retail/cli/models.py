"""``retail models list|show|promote``: the model registry (MLflow) for people."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.table import Table

from retail.cli.common import console, err_console, handle_errors, print_table, settings

P = ParamSpec("P")
R = TypeVar("R")
app = typer.Typer(help="The model registry (MLflow at RETAIL_MLFLOW__TRACKING_URI, locally the "
                       "server of `retail local up`): versions, champions, promotions.",
                  no_args_is_help=True)


def registry_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """The registry unreachable or refusing a call: one line naming its URI, exit 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from retail.ml.registry import RegistryError

        try:
            return fn(*args, **kwargs)
        except RegistryError as exc:
            err_console.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


def _registry():
    # Imported here: mlflow's import costs a second every `retail` command would pay.
    from retail.ml.registry import Registry

    return Registry.from_settings(settings())


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _metric(version) -> str:
    """The metric a version's promotion was decided on (WAPE unless recorded otherwise)."""
    return version.tags.get("promotion.metric", "wape")


@app.command("list")
@handle_errors
@registry_errors
def list_models() -> None:
    """Every registered model: versions, champion, its WAPE, the latest decision."""
    registry = _registry()
    names = registry.models()
    if not names:
        console.print(f"no registered models under '{registry.prefix}.' at {registry.uri} "
                      "(the training jobs register them)")
        return
    table = Table(title=f"models at {registry.uri}")
    for col in ("model", "versions", "champion", "metric", "latest", "latest's decision"):
        table.add_column(col)
    for name in names:
        versions = registry.versions(name)
        champ = next((v for v in versions if v.is_champion), None)
        latest = versions[0] if versions else None
        metric = _metric(champ) if champ else "wape"
        table.add_row(
            name, str(len(versions)), champ.version if champ else "none",
            f"{metric} {_figure(champ.metrics.get(metric))}" if champ else "-",
            latest.version if latest else "-",
            latest.tags.get("promotion.decision", "undecided") if latest else "-")
    print_table(table)


@app.command()
@handle_errors
@registry_errors
def show(name: Annotated[str, typer.Argument(
        help="the model: its short name (demand_forecast) or registered name")]) -> None:
    """A model's versions: metrics, aliases, each promotion decision and its figures."""
    registry = _registry()
    versions = registry.versions(name)
    if not versions:
        raise typer.BadParameter(f"no versions of {registry.name(name)} at {registry.uri} "
                                 "(see `retail models list`)", param_hint="NAME")
    table = Table(title=f"{registry.name(name)} at {registry.uri}")
    for col in ("version", "created (UTC)", "aliases", "metrics", "decision", "candidate",
                "champion then", "reason", "by hand"):
        table.add_column(col)
    for v in versions:
        metric = _metric(v)
        tags = v.tags
        then = tags.get(f"promotion.champion_{metric}", "")
        table.add_row(
            v.version, _day(v.created_ms), ", ".join(v.aliases) or "-",
            "\n".join(f"{k} {_figure(x)}" for k, x in sorted(v.metrics.items())
                      if not k.startswith("promotion.")) or "-",
            tags.get("promotion.decision", "undecided"),
            f"{metric} {_figure(float(tags[f'promotion.candidate_{metric}']))}"
            if tags.get(f"promotion.candidate_{metric}") else "-",
            f"v{tags['promotion.champion_version']}"
            + (f" {metric} {_figure(float(then))}" if then else "")
            if tags.get("promotion.champion_version") else "-",
            tags.get("promotion.reason", "-"), _by_hand(tags))
    print_table(table)


def _by_hand(tags) -> str:
    """The last promotion by hand of a version: who, when, why, the champion before."""
    if "manual.by" not in tags:
        return "-"
    was = tags.get("manual.previous_champion")
    return (f"{tags['manual.by']} at {tags.get('manual.at', '?')}: {tags.get('manual.reason')}"
            + (f" (champion was v{was})" if was else ""))


@app.command()
@handle_errors
@registry_errors
def promote(
    name: Annotated[str, typer.Argument(help="the model (short or registered name)")],
    version: Annotated[int, typer.Argument(help="the version to make the champion", min=1)],
    reason: Annotated[str, typer.Option(
        "--reason", "-r", help="why, recorded on the version with your user name")]
        = "promoted by hand",
) -> None:
    """Make VERSION the champion of NAME by hand (who and why go on its tags).

    The training jobs promote a version only when its backtest WAPE beats the champion's.
    """
    registry = _registry()
    previous = registry.promote(name, version, reason)
    was = f"was version {previous}" if previous else "there was none"
    console.print(f"{registry.name(name)}: version {version} is the champion now ({was})")


@contextlib.contextmanager
def model_session(app_name: str) -> Iterator[tuple]:
    """(settings, warehouse, registry, Spark session) of a model command; the registry is
    reached first, so an MLflow server that does not answer fails before Spark starts."""
    from retail.io.warehouse import connect
    from retail.ml.registry import Registry
    from retail.streaming.job import spark_session

    s = settings()
    registry = Registry.from_settings(s)
    wh = connect(s.resolved_warehouse())
    spark = spark_session(s, app_name)
    try:
        yield s, wh, registry, spark
    finally:
        spark.stop()
