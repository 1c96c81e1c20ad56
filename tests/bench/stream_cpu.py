"""Who uses the machine's cores during a stream benchmark measurement."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stream_common import say  # noqa: E402


_HZ = os.sysconf("SC_CLK_TCK")


def _procs() -> dict[int, tuple[int, int]]:
    """pid -> (ppid, CPU ticks) of every process, its reaped children included."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    f = fh.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            # own CPU + that of reaped children (Spark's short-lived Python workers)
            out[int(d)] = (int(f[1]), sum(int(x) for x in f[11:15]))
    return out


def _machine() -> tuple[int, int]:
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    return sum(v[:8]), v[3] + v[4]  # total, idle + iowait


class CpuMeter:
    """CPU time per component between ``start`` and ``stop``: each process counts for the
    nearest of its ancestors (itself included) named in ``roots``, else "other (not this
    benchmark)". A process that exits in between is counted through its parent, which gets
    its whole CPU time when it reaps it (minus what it had used before ``start``)."""

    OTHER = "other (not this benchmark)"

    def __init__(self, roots: dict[int, str]):
        self.roots = roots

    def _group(self, pid: int, procs: dict) -> str:
        seen = 0
        while pid in procs and seen < 64:
            if pid in self.roots:
                return self.roots[pid]
            pid, seen = procs[pid][0], seen + 1
        return self.OTHER

    def start(self) -> CpuMeter:
        self.t0, self.p0, self.m0 = time.time(), _procs(), _machine()
        return self

    def stop(self) -> dict[str, float]:
        """Cores used by each group, and "machine busy" as a share of all cores."""
        p1, m1, wall = _procs(), _machine(), time.time() - self.t0
        out: dict[str, float] = {}
        for pid, (_, ticks) in p1.items():
            used = ticks - self.p0.get(pid, (0, 0))[1]
            if used > 0:
                g = self._group(pid, p1)
                out[g] = out.get(g, 0.0) + used / _HZ / wall
        for pid, (_, ticks) in self.p0.items():
            if pid not in p1 and ticks:
                g = self._group(pid, self.p0)
                out[g] = out.get(g, 0.0) - ticks / _HZ / wall
        out = {k: max(v, 0.0) for k, v in out.items()}
        total, idle = m1[0] - self.m0[0], m1[1] - self.m0[1]
        out["machine busy"] = 1 - idle / total if total else 0.0
        return out


def cpu_line(cpu: dict[str, float]) -> str:
    parts = [f"{k} {v:.2f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])
             if k != "machine busy" and v >= 0.01]
    return (f"machine {cpu.get('machine busy', 0) * 100:.0f} % busy; cores: "
            + ", ".join(parts))


class Quiet:
    """Wait, from a budget of ``budget_s`` seconds for the whole run, until processes that are
    not this benchmark's use at most ``limit`` cores (other sessions share the machine)."""

    def __init__(self, budget_s: float, limit: float = 0.3):
        self.left, self.limit, self.waited = budget_s, limit, 0.0

    def __call__(self, roots: dict[int, str]) -> float:
        while True:
            meter = CpuMeter({**roots, os.getpid(): "benchmark"}).start()
            time.sleep(2)
            other = meter.stop().get(CpuMeter.OTHER, 0.0)
            if other <= self.limit or self.left <= 0:
                return other
            say(f"other work on the machine uses {other:.1f} cores: waiting (up to "
                f"{self.left:.0f} s more) ...")
            time.sleep(min(8.0, self.left))
            self.left -= 10
            self.waited += 10
