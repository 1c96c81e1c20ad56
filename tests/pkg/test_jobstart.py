"""retail.jobstart: the lazily started Spark session."""

from __future__ import annotations

from retail.jobstart import LazySpark


class Session:
    def __init__(self) -> None:
        self.stopped = False
        self.version = "4.0"

    def stop(self) -> None:
        self.stopped = True


def test_the_session_starts_on_first_use_once_and_stops_only_if_started():
    made: list[Session] = []

    def make() -> Session:
        made.append(Session())
        return made[-1]

    unused = LazySpark(make)
    unused.stop()
    assert made == [] and not unused.started
    used = LazySpark(make)
    assert used.version == "4.0" and used.version == "4.0"
    assert len(made) == 1 and used.started
    used.stop()
    assert made[0].stopped
