"""POS simulator job: a chain's point-of-sale events, live, into Kafka until stopped.

Image: ``images/pos_generator`` (``retail-platform/pos-generator``), run by the chart as a
Deployment. Arguments: ``--speed X`` simulated seconds per real second (default 1: real
time; a demo can run a day in minutes). Environment: ``RETAIL_SIMULATOR__*`` (stores,
products, rate in events per minute per store, seed; see
``retail.settings.SimulatorSettings``), ``RETAIL_KAFKA__*`` (bootstrap servers, security,
producer workers; ``retail.settings.KafkaSettings``) and ``RETAIL_LOCAL__HOME`` (where events
that not even the dead-letter topic took are spooled; ``/tmp/...`` in a pod, whose root
filesystem is read-only). SIGTERM or SIGINT stops it after the current tick; everything handed
to the producers is flushed to Kafka before it exits. Exit codes: 0 stopped by a signal with
every event delivered (or dead-lettered), 1 no broker answered at start, the producer failed
or events were lost (spooled or unconfirmed), 2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from retail.io.kafka import admin_client
from retail.io.parallel import ParallelProducer
from retail.log import configure_logging, event
from retail.settings import KafkaSettings, Settings, SettingsError, load_settings
from retail.sim import SimConfig, Simulator, generate_catalog
from retail.simulate import KafkaSink, RunSummary, live

PROGRESS_EVERY_S = 30.0
# Live mode has no last day: it runs until a signal, so give it a century of days.
LIVE_DAYS = 36_500


def _parse(argv: list[str]) -> argparse.Namespace | int:
    parser = argparse.ArgumentParser(prog="pos_generator", description=__doc__.split("\n")[0])
    parser.add_argument("--speed", type=float, default=1.0,
                        help="simulated seconds per real second (default 1)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed what was wrong
        return int(exc.code or 0)
    if args.speed <= 0:
        print(f"--speed must be above 0 (got {args.speed})", file=sys.stderr)
        return 2
    return args


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _run_live(settings: Settings, kafka: KafkaSettings, speed: float, spool: Path,
              log: logging.Logger) -> RunSummary:
    """Simulate from now on at ``speed`` into Kafka until a signal; logs progress."""
    sim = settings.simulator
    stop = _stop_on_signals()
    catalog = generate_catalog(sim.stores, sim.products, sim.seed, sim.country)
    simulator = Simulator(catalog, SimConfig(seed=sim.seed, rate=sim.rate,
                                             start=datetime.now(UTC).date(), days=LIVE_DAYS))
    producer = ParallelProducer(kafka, spool=spool)
    event(log, logging.INFO, "started", stores=sim.stores, products=sim.products,
          rate=sim.rate, speed=speed, bootstrap=kafka.bootstrap_servers)
    last = time.monotonic()

    def progress(summary: RunSummary) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY_S:
            last = time.monotonic()
            stats = producer.stats()
            event(log, logging.INFO, "progress", events=summary.total, acked=stats.acked,
                  failed=stats.failed)

    return live(simulator, KafkaSink(producer), speed=speed, stop=stop, on_tick=progress)


def main(argv: list[str]) -> int:
    args = _parse(argv)
    if isinstance(args, int):
        return args
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)
    log = logging.getLogger("pos_generator")
    kafka = settings.resolved_kafka()
    spool = settings.local.home / "dead-letter-spool.jsonl"
    try:  # fail fast: the producer processes would otherwise wait for a broker indefinitely
        admin_client(kafka).close()
        summary = _run_live(settings, kafka, args.speed, spool, log)
    except Exception as exc:  # noqa: BLE001  the Deployment restarts the pod
        event(log, logging.ERROR, "producer failed", bootstrap=kafka.bootstrap_servers,
              error=(str(exc).splitlines() or [type(exc).__name__])[0][:500])
        return 1
    stats = summary.producer
    unconfirmed = stats.sent - stats.acked - stats.failed
    event(log, logging.INFO, "stopped", events=summary.total, sent=stats.sent,
          acked=stats.acked, failed=stats.failed, dead_lettered=stats.dead_lettered,
          spooled=stats.spooled, unconfirmed=unconfirmed, seconds=round(summary.seconds, 1))
    if stats.spooled or unconfirmed:
        event(log, logging.ERROR, "events did not reach Kafka: check the brokers",
              spooled=stats.spooled, unconfirmed=unconfirmed, spool=str(spool))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
