"""The processes of a local service, read from /proc: a process group's live members and
the addresses they listen on (the local stack's tests: MLflow, Airflow)."""

from __future__ import annotations

import os
from pathlib import Path


def group(pgid: int) -> set[int]:
    """The live (not zombie) processes of a process group."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.add(int(stat.parent.name))
    return found


def listening_addresses(pids: set[int]) -> set[str]:
    """The addresses (hex ip:port from /proc/net/tcp*) the processes ``pids`` listen on."""
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[9] in inodes:  # LISTEN
                found.add(parts[1])
    return found
