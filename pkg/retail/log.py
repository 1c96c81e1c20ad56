"""Structured logging on the standard library.

Every record carries an event name and key/value fields (``log.info("sent", extra=kv(n=3))``
or :func:`event`). ``json`` format writes one JSON object per line for log shippers;
``console`` writes ``time level logger event k=v ...`` for humans. Logs go to stderr so
command output on stdout stays clean.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import orjson

_FIELDS = "retail_fields"


def kv(**fields: object) -> dict[str, dict[str, object]]:
    """Wrap fields for ``logger.info(msg, extra=kv(...))``."""
    return {_FIELDS: fields}


def event(logger: logging.Logger, level: int, name: str, **fields: object) -> None:
    """Log ``name`` with structured ``fields``."""
    logger.log(level, name, extra=kv(**fields))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        doc.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        fields = getattr(record, _FIELDS, {})
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{ts} {record.levelname:<7} {record.name} {record.getMessage()} {tail}".rstrip()
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


# Libraries whose INFO lines interleave with our output (py4j: one per Spark call) and say
# nothing a user acts on: WARNING and up only, unless verbose or at DEBUG.
THIRD_PARTY = ("py4j", "pyspark", "urllib3", "clickhouse_connect", "botocore", "boto3",
               "s3transfer", "faker", "filelock", "asyncio", "werkzeug")


def configure_logging(level: str = "INFO", fmt: str = "console", verbose: bool = False) -> None:
    """Install one stderr handler on the root logger (idempotent).

    Third-party libraries log at WARNING and up (kafka-python at CRITICAL) unless ``verbose``
    or ``level`` is DEBUG, when they log at ``level`` like our own code.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    loud = verbose or root.level <= logging.DEBUG
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.NOTSET if loud else logging.WARNING)
    # kafka-python logs every connection attempt and retry at ERROR; our own code reports
    # what matters (unreachable brokers, failed deliveries).
    logging.getLogger("kafka").setLevel(logging.NOTSET if loud else logging.CRITICAL)
