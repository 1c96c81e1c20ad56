"""The app's one way to the warehouse: ``retail.queries`` run for a reader.

Every query gets ``stores=`` the reader's store ids (never None, which would mean every
store), and a store chosen in a slicer is checked against them before anything runs, so
no row of another store leaves the server. Each server thread keeps its own client (the
HTTP client holds a session that serves one query at a time).
"""

from __future__ import annotations

import threading
from datetime import date

import pyarrow as pa

from retail.dashboard import identity
from retail.dashboard.identity import Reader
from retail.io.warehouse import ClickHouseWarehouse, connect
from retail.queries import get_query, run_query, sales_days
from retail.settings import WarehouseSettings


class Source:
    """The warehouse as the dashboards read it."""

    def __init__(self, settings: WarehouseSettings) -> None:
        self.settings = settings
        self._local = threading.local()

    @property
    def wh(self) -> ClickHouseWarehouse:
        if getattr(self._local, "wh", None) is None:
            self._local.wh = connect(self.settings)
        return self._local.wh

    def ping(self) -> None:
        """Raise when the warehouse does not answer (``/healthz``)."""
        self.wh.query_rows("SELECT 1")

    def days(self) -> tuple[date, date] | None:
        """The first and last day with sales; None when there are none yet."""
        try:
            return sales_days(self.wh)
        except ValueError:
            return None

    def reader(self, name: str | None) -> Reader | None:
        return identity.reader(self.wh, name)

    def users(self) -> list[tuple[str, str]]:
        return identity.assigned_users(self.wh)

    def fetch(self, name: str, reader: Reader, *, as_of: date,
              store_id: str | None = None) -> pa.Table:
        """Run query ``name`` for ``reader`` on ``as_of``. A store-manager query runs for
        ``store_id``, which must be one of the reader's stores (:class:`Forbidden`); the
        others run for the reader's stores, or for ``store_id`` alone when given."""
        reader.check_store(store_id)
        query = get_query(name)
        stores = [store_id] if store_id else list(reader.stores)
        return run_query(self.wh, name, as_of=as_of,
                         store_id=store_id if query.needs_store else None, stores=stores)
