"""The stream under test in its own process: `retail stream run`, its progress lines read
for batch sizes and step seconds."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from retail.settings import KafkaSettings, WarehouseSettings  # noqa: E402


_BATCH = re.compile(r"^batch (\d+): ([\d,]+) rows .* in ([\d.]+) s")
_STAGE = re.compile(r"([A-Za-z+_-]+) ([\d.]+)s")


class StreamProcess:
    """``retail stream run -v`` with its settings in the environment; output parsed."""

    def __init__(self, root: Path, kafka: KafkaSettings, ws: WarehouseSettings, **stream):
        env = {k: v for k, v in os.environ.items() if not k.startswith("RETAIL_")}
        env.update({
            "PYSPARK_PYTHON": sys.executable,
            "RETAIL_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "RETAIL_KAFKA__FLAVOR": "tansu",
            "RETAIL_WAREHOUSE__URL": ws.url,
            "RETAIL_WAREHOUSE__DATABASE": ws.database,
            "RETAIL_LAKE__ROOT": str(root / "lake"),
            "RETAIL_LOCAL__HOME": str(root / "home"),
            "RETAIL_STREAM__CHECKPOINT_DIR": str(root / "checkpoint"),
        })
        env.update({f"RETAIL_STREAM__{k.upper()}": str(v) for k, v in stream.items()})
        self.lines: list[str] = []
        self.batches: list[dict] = []
        self._printed = 0
        self.proc = subprocess.Popen([sys.executable, "-m", "retail", "stream", "run", "-v"],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        pending = None
        for line in self.proc.stdout:
            self.lines.append(line)
            m = _BATCH.match(line)
            if m:
                pending = {"batch": int(m.group(1)), "rows": int(m.group(2).replace(",", "")),
                           "seconds": float(m.group(3)), "at": time.time(), "stages": {}}
                self.batches.append(pending)
            elif pending is not None and line.startswith("  "):
                pending["stages"] = {k: float(v) for k, v in _STAGE.findall(line)}
                pending = None

    def print_batches(self) -> None:
        """Print the batches finished since the last call (from the main thread)."""
        done = [b for b in self.batches if b["stages"] or time.time() - b["at"] > 1.0]
        for b in done[self._printed:]:
            print(f"      stream batch {b['batch']}: {b['rows']:,} rows in {b['seconds']:.2f} s"
                  + "".join(f", {k} {v:.2f}" for k, v in b["stages"].items()), flush=True)
        self._printed = max(self._printed, len(done))

    def wait_batches(self, count: int, timeout_s: float) -> None:
        deadline = time.time() + timeout_s
        while len(self.batches) < count:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("the stream did not start:\n" + "".join(self.lines[-40:]))
            time.sleep(0.2)
            self.print_batches()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # stops after the batch in progress
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.reader.join(5)
