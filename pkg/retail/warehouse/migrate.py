"""Versioned schema migrations: numbered SQL files applied once, in order.

Files are ``migrations/NNNN_<name>.sql``. Each is applied statement by statement and then
recorded in ``schema_migrations`` with its SHA-256; a file whose content changed after it
was applied is refused (write a new migration instead). Statements are written to be
idempotent (``IF NOT EXISTS``, ``OR REPLACE``), so a migration interrupted half-way is
simply applied again. Passwords never appear in these files.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from retail.io.warehouse import Warehouse

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
LEDGER = "schema_migrations"


class MigrationError(RuntimeError):
    """A migration cannot be applied; the message says which file and why."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def filename(self) -> str:
        return f"{self.version:04d}_{self.name}.sql"

    def statements(self) -> list[str]:
        return split_statements(self.sql)


@dataclass(frozen=True)
class MigrationState:
    migration: Migration | None
    version: int
    name: str
    state: str  # applied | pending | changed | missing
    applied_at: str = ""


def default_dir() -> Path:
    return Path(str(resources.files("retail.warehouse").joinpath("migrations")))


def discover(directory: Path | None = None) -> list[Migration]:
    """Every ``NNNN_name.sql`` in ``directory``, by version; other files are errors."""
    directory = directory or default_dir()
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files are named NNNN_name.sql")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"{path.name}: version {version} is used twice")
        found[version] = Migration(version, m.group(2), path.read_text())
    return [found[v] for v in sorted(found)]


def split_statements(sql: str) -> list[str]:
    """Split on ``;`` outside quotes and comments; drop empty statements and comments."""
    out, buf, i, n = [], [], 0, len(sql)
    while i < n:
        ch = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
            buf.append("\n")  # a comment separates tokens: `x--c\nFROM` is `x FROM`
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            buf.append(" ")
            continue
        if ch in "'`\"":
            j = i + 1
            while j < n and sql[j] != ch:
                j += 2 if sql[j] == "\\" else 1
            buf.append(sql[i:j + 1])
            i = j + 1
            continue
        if ch == ";":
            out.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf).strip())
    return [s for s in out if s]


class Migrator:
    """Applies :func:`discover`'s migrations to one database through a :class:`Warehouse`."""

    def __init__(self, admin: Warehouse, database: str,
                 connect_db: Callable[[str], Warehouse], directory: Path | None = None) -> None:
        """``admin`` runs database-level DDL; ``connect_db(db)`` opens a client on ``db``."""
        self.admin, self.database, self._connect_db = admin, database, connect_db
        self.migrations = discover(directory)

    def _ensure_ledger(self) -> Warehouse:
        self.admin.command(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        wh = self._connect_db(self.database)
        wh.command(f"""CREATE TABLE IF NOT EXISTS {LEDGER} (
            version UInt32, name String, checksum String, statements UInt32,
            applied_at DateTime64(3, 'UTC') DEFAULT now64(3), duration_ms UInt32)
            ENGINE = ReplacingMergeTree(applied_at) ORDER BY version""")
        return wh

    def _applied(self, wh: Warehouse) -> dict[int, tuple[str, str, str]]:
        rows = wh.query_rows(f"SELECT version, name, checksum, toString(applied_at) "
                             f"FROM {LEDGER} FINAL ORDER BY version")
        return {int(v): (n, c, a) for v, n, c, a in rows}

    def status(self) -> list[MigrationState]:
        wh = self._ensure_ledger()
        try:
            applied = self._applied(wh)
        finally:
            wh.close()
        states = []
        for m in self.migrations:
            rec = applied.pop(m.version, None)
            if rec is None:
                states.append(MigrationState(m, m.version, m.name, "pending"))
            else:
                state = "applied" if rec[1] == m.checksum else "changed"
                states.append(MigrationState(m, m.version, m.name, state, rec[2]))
        states += [MigrationState(None, v, rec[0], "missing", rec[2])
                   for v, rec in sorted(applied.items())]
        return sorted(states, key=lambda s: s.version)

    def migrate(self, progress: Callable[[Migration, int, int], None] | None = None
                ) -> list[Migration]:
        """Apply pending migrations in order; refuse if an applied file has changed."""
        states = self.status()
        changed = [s for s in states if s.state == "changed"]
        if changed:
            names = ", ".join(s.migration.filename for s in changed if s.migration)
            raise MigrationError(f"already applied but changed since: {names}. Applied "
                                 "migrations are immutable; add a new NNNN_*.sql instead")
        pending = [s.migration for s in states if s.state == "pending" and s.migration]
        done: list[Migration] = []
        wh = self._connect_db(self.database)
        try:
            for m in pending:
                started = time.monotonic()
                statements = m.statements()
                for i, stmt in enumerate(statements, 1):
                    if progress:
                        progress(m, i, len(statements))
                    try:
                        wh.command(stmt)
                    except Exception as exc:
                        raise MigrationError(f"{m.filename}, statement {i} of "
                                             f"{len(statements)} failed: {exc}") from None
                wh.command(
                    f"INSERT INTO {LEDGER} (version, name, checksum, statements, duration_ms) "
                    "VALUES ({v:UInt32}, {n:String}, {c:String}, {s:UInt32}, {d:UInt32})",
                    parameters={"v": m.version, "n": m.name, "c": m.checksum,
                                "s": len(statements),
                                "d": int((time.monotonic() - started) * 1000)})
                done.append(m)
        finally:
            wh.close()
        return done

    def reset(self) -> None:
        """Drop the warehouse database (every table, view and the ledger)."""
        self.admin.command(f"DROP DATABASE IF EXISTS `{self.database}` SYNC")
