"""Stream processor job: POS events from Kafka -> Spark Structured Streaming -> ClickHouse,
the lake and the alert topics.

Image: ``images/stream_processor``. Arguments: none (``--available-now`` processes what is
in Kafka and exits). Environment: ``RETAIL_KAFKA__*``, ``RETAIL_WAREHOUSE__*``,
``RETAIL_LAKE__*`` and ``RETAIL_STREAM__*`` (see ``retail.settings.StreamSettings``).
Exit codes: 0 stopped cleanly, 1 failed after its restarts, 2 bad settings.
"""

from __future__ import annotations

import logging
import sys

from retail.log import configure_logging, event
from retail.settings import SettingsError, load_settings
from retail.streaming.job import StreamRunner


def main(argv: list[str]) -> int:
    log = logging.getLogger("stream_processor")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)
    runner = StreamRunner(settings, on_batch=lambda r: event(
        log, logging.INFO, "batch", batch_id=r.batch_id, rows=r.input_rows,
        rejected=r.rejected, seconds=round(r.seconds, 3), lag_s=r.lag_s, alerts=r.alerts),
        on_event=lambda msg: event(log, logging.WARNING, msg))
    try:
        runner.run(available_now="--available-now" in argv, handle_signals=True)
    except Exception as exc:  # noqa: BLE001  the pod's restart policy takes it from here
        event(log, logging.ERROR, "stream processor failed",
              error=(str(exc).splitlines() or [type(exc).__name__])[0][:500])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
