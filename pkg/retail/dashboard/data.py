"""The app's one way to the warehouse: ``retail.queries`` run for a reader.

Every query gets ``stores=`` the reader's store ids (never None, which would mean every
store), and a store chosen in a slicer is checked against them before anything runs, so
no row of another store leaves the server. Clients are pooled: each serves one request
at a time (its HTTP session runs one query at a time), and the threaded server's requests
reuse the idle ones instead of connecting anew.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator
from contextlib import contextmanager
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
        self._idle: queue.SimpleQueue[ClickHouseWarehouse] = queue.SimpleQueue()

    @contextmanager
    def client(self) -> Iterator[ClickHouseWarehouse]:
        """An idle client, or a new one; back to the pool afterwards."""
        try:
            wh = self._idle.get_nowait()
        except queue.Empty:
            wh = connect(self.settings)
        try:
            yield wh
        finally:
            self._idle.put(wh)

    def ping(self) -> None:
        """Raise when the warehouse does not answer (``/healthz``)."""
        with self.client() as wh:
            wh.query_rows("SELECT 1")

    def days(self) -> tuple[date, date] | None:
        """The first and last day with sales; None when there are none yet."""
        with self.client() as wh:
            try:
                return sales_days(wh)
            except ValueError:
                return None

    def reader(self, name: str | None) -> Reader | None:
        with self.client() as wh:
            return identity.reader(wh, name)

    def users(self) -> list[tuple[str, str]]:
        with self.client() as wh:
            return identity.assigned_users(wh)

    def fetch(self, name: str, reader: Reader, *, as_of: date,
              store_id: str | None = None) -> pa.Table:
        """Run query ``name`` for ``reader`` on ``as_of``. A store-manager query runs for
        ``store_id``, which must be one of the reader's stores (:class:`Forbidden`); the
        others run for the reader's stores, or for ``store_id`` alone when given."""
        reader.check_store(store_id)
        query = get_query(name)
        stores = [store_id] if store_id else list(reader.stores)
        with self.client() as wh:
            return run_query(wh, name, as_of=as_of,
                             store_id=store_id if query.needs_store else None, stores=stores)
