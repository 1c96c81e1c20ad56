"""The warehouse client: ClickHouse over its HTTP interface, through clickhouse-connect.

One code path for a production server (the Altinity operator's ClickHouseInstallation) and
for the local server (``retail warehouse serve`` on chDB). Bulk writes take Arrow tables or
pandas frames and go over the wire as Arrow, with no per-row Python; an optional
deduplication token makes a replayed batch a no-op (the fact tables declare
``non_replicated_deduplication_window``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from retail.settings import WarehouseSettings

if TYPE_CHECKING:
    import pandas as pd


class WarehouseUnavailable(RuntimeError):
    """The warehouse did not answer; the message names the URL and what to check."""


class WarehouseError(RuntimeError):
    """The warehouse answered with an error (ClickHouse code and message)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class Warehouse(Protocol):
    """What jobs, the CLI and tests need from the warehouse."""

    database: str

    def command(self, sql: str, parameters: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Any: ...

    def query_arrow(self, sql: str, parameters: dict[str, Any] | None = None) -> pa.Table: ...

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]: ...

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> int: ...

    def close(self) -> None: ...


def _wrap(exc: Exception) -> Exception:
    from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

    if isinstance(exc, OperationalError):
        return WarehouseUnavailable(str(exc))
    if isinstance(exc, DatabaseError):
        code = getattr(exc, "code", None)
        return WarehouseError(str(exc), int(code) if code is not None else None)
    return exc


class ClickHouseWarehouse:
    """:class:`Warehouse` on a clickhouse-connect HTTP client."""

    def __init__(self, client: Any, database: str) -> None:
        self.client, self.database = client, database

    @classmethod
    def connect(cls, settings: WarehouseSettings, database: str | None = None,
                **client_kwargs: Any) -> ClickHouseWarehouse:
        """Open a client; ``database=""`` connects without selecting the warehouse database."""
        import clickhouse_connect
        from urllib.parse import urlsplit

        url = urlsplit(settings.url)
        db = settings.database if database is None else database
        compress = settings.compress if settings.compress is not None else \
            url.hostname not in ("127.0.0.1", "localhost", "::1")
        try:
            client = clickhouse_connect.get_client(
                host=url.hostname, port=url.port or (8443 if settings.secure else 8123),
                username=settings.user,
                password=settings.password.get_secret_value() if settings.password else "",
                database=db or "default", secure=settings.secure,
                verify=settings.verify_tls, ca_cert=str(settings.ca_cert) if settings.ca_cert
                else None, connect_timeout=settings.connect_timeout_s,
                send_receive_timeout=settings.query_timeout_s,
                compress="lz4" if compress else False, **client_kwargs)
        except Exception as exc:  # noqa: BLE001 - re-raised with context
            wrapped = _wrap(exc)
            if isinstance(wrapped, WarehouseUnavailable) or not isinstance(wrapped,
                                                                             WarehouseError):
                raise WarehouseUnavailable(
                    f"cannot reach the warehouse at {settings.url} ({exc}); start the local "
                    "one with `retail local up` or set RETAIL_WAREHOUSE__URL") from None
            raise wrapped from None
        return cls(client, db or "default")

    def command(self, sql: str, parameters: dict[str, Any] | None = None,
                settings: dict[str, Any] | None = None) -> Any:
        try:
            return self.client.command(sql, parameters=parameters, settings=settings)
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc) from None

    def query_arrow(self, sql: str, parameters: dict[str, Any] | None = None) -> pa.Table:
        try:
            return self.client.query_arrow(sql, parameters=parameters, use_strings=True)
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc) from None

    def query_df(self, sql: str, parameters: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.query_arrow(sql, parameters).to_pandas()

    def query_rows(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple]:
        try:
            return self.client.query(sql, parameters=parameters).result_rows
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc) from None

    def insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None = None) -> int:
        """Insert an Arrow table (columns by name; omitted columns take their defaults)."""
        if data.num_rows == 0:
            return 0
        # With a token, the materialized views' target tables deduplicate the replay too.
        settings = {"insert_deduplication_token": dedup_token,
                    "deduplicate_blocks_in_dependent_materialized_views": 1} if dedup_token \
            else None
        try:
            summary = self.client.insert_arrow(table, data, settings=settings)
        except Exception as exc:  # noqa: BLE001
            raise _wrap(exc) from None
        return int(getattr(summary, "written_rows", 0) or 0)

    def insert_df(self, table: str, frame: pd.DataFrame, dedup_token: str | None = None) -> int:
        return self.insert_arrow(table, pa.Table.from_pandas(frame, preserve_index=False),
                                 dedup_token)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ClickHouseWarehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(settings: WarehouseSettings, database: str | None = None) -> ClickHouseWarehouse:
    return ClickHouseWarehouse.connect(settings, database)
