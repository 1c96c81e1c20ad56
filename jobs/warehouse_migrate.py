"""Warehouse migration job: applies the pending schema migrations to ClickHouse, in order.

Image: ``images/warehouse_migrate`` (``retail-platform/warehouse-migrate``), run by the chart
as a Helm hook Job on install and upgrade. Arguments: none. Environment:
``RETAIL_WAREHOUSE__*`` (url, user, password, database, TLS; see
``retail.settings.WarehouseSettings``) and ``RETAIL_ENV`` (outside ``local`` a password is
required). Migrations are idempotent and an applied file that changed is refused, so the job
is safe to re-run. Exit codes: 0 the database is up to date (whether or not anything was
applied now), 1 a migration failed or the warehouse is unreachable (the Job's backoff retries
while ClickHouse comes up), 2 bad settings or arguments.
"""

from __future__ import annotations

import logging
import sys

from retail.io.warehouse import WarehouseError, WarehouseUnavailable, connect
from retail.jobstart import start_job
from retail.log import event
from retail.warehouse.migrate import MigrationError, Migrator


def main(argv: list[str]) -> int:
    if argv:
        print(f"warehouse_migrate takes no arguments (got {' '.join(argv)}); configure it "
              "with RETAIL_WAREHOUSE__* variables", file=sys.stderr)
        return 2
    start = start_job("warehouse_migrate")
    if start is None:
        return 2
    settings, warehouse, log = start.settings, start.warehouse, start.log
    try:
        migrator = Migrator(connect(warehouse, database=""), warehouse.database,
                            lambda db: connect(warehouse, db))
        applied = migrator.migrate(lambda m, i, n: event(
            log, logging.DEBUG, "statement", migration=m.filename, statement=i, of=n))
    except (MigrationError, WarehouseUnavailable, WarehouseError) as exc:
        first_line = (str(exc).splitlines() or [type(exc).__name__])[0]
        event(log, logging.ERROR, "migration failed", url=warehouse.url,
              database=warehouse.database, error=first_line[:500])
        return 1
    for m in applied:
        event(log, logging.INFO, "applied", migration=m.filename,
              statements=len(m.statements()))
    event(log, logging.INFO, "up to date", database=warehouse.database,
          applied_now=len(applied), known=len(migrator.migrations))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
