"""The data lake: Parquet files, hive-partitioned ``<topic>/year=/month=/day=``.

One code path for a local directory (the embedded default) and S3/MinIO
(``RETAIL_LAKE__ROOT=s3://retail-raw-data/...``), through ``pyarrow.fs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from retail.settings import LakeSettings


def filesystem(settings: LakeSettings) -> tuple[pafs.FileSystem, str]:
    """The filesystem and base path behind ``settings.root``."""
    if settings.is_s3:
        fs = pafs.S3FileSystem(
            access_key=settings.s3_access_key.get_secret_value() if settings.s3_access_key else None,
            secret_key=settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None,
            endpoint_override=settings.s3_endpoint,
            region=settings.s3_region,
            scheme="https" if settings.s3_tls else "http",
        )
        return fs, settings.root.removeprefix("s3://").rstrip("/")
    return pafs.LocalFileSystem(), str(Path(settings.root).expanduser().resolve())


@dataclass
class LakeWriter:
    """Write event tables under ``<root>/<topic>/year=YYYY/month=MM/day=DD/<name>.parquet``.

    File names are chosen by the caller and deterministic, so re-running a backfill
    overwrites its own files instead of duplicating rows.
    """

    settings: LakeSettings
    time_column: str = "event_time"

    def __post_init__(self) -> None:
        self.fs, self.base = filesystem(self.settings)
        self.files_written = 0
        self.rows_written = 0

    def write(self, topic: str, table: pa.Table, name: str) -> list[str]:
        """Split ``table`` by UTC date of its time column and write one file per date."""
        if table.num_rows == 0:
            return []
        dates = pc.strftime(table[self.time_column], format="%Y-%m-%d")
        paths = []
        for day in pc.unique(dates).to_pylist():
            part = table.filter(pc.equal(dates, day))
            y, m, d = day.split("-")
            folder = f"{self.base}/{topic}/year={y}/month={m}/day={d}"
            self.fs.create_dir(folder, recursive=True)
            path = f"{folder}/{name}.parquet"
            pq.write_table(part, path, filesystem=self.fs, compression="zstd")
            paths.append(path)
            self.files_written += 1
            self.rows_written += part.num_rows
        return paths

    def write_reference(self, name: str, table: pa.Table) -> str:
        """Master data (stores, products, suppliers, calendar) as ``reference/<name>.parquet``."""
        folder = f"{self.base}/reference"
        self.fs.create_dir(folder, recursive=True)
        path = f"{folder}/{name}.parquet"
        pq.write_table(table, path, filesystem=self.fs, compression="zstd")
        return path

    def read(self, topic: str) -> pa.Table:
        """Everything written for ``topic`` (partition columns included)."""
        dataset = ds.dataset(f"{self.base}/{topic}", filesystem=self.fs, format="parquet",
                             partitioning="hive")
        return dataset.to_table()
