"""Notice clients that hang up while their query runs, and cancel the query.

ClickHouse cancels a read-only HTTP query whose client closed the connection when
``cancel_http_readonly_queries_on_client_close`` is on (docs: operations/settings/settings).
A handler thread is blocked in the engine while a query computes, so one watcher thread
polls the sockets of the requests that are waiting: a socket that reads end-of-file or an
error has lost its client, and its ``on_close`` runs (once). A socket with bytes to read is
a pipelined next request, not a hang-up: it is no longer watched.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class DisconnectWatch:
    """One thread watching any number of client sockets for hang-ups."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self._interval_ms = int(interval_s * 1000)
        self._cond = threading.Condition()
        self._watched: dict[int, tuple[socket.socket, Callable[[], None]]] = {}
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="disconnect-watch", daemon=True)
        self._thread.start()

    @contextmanager
    def watching(self, sock: socket.socket, on_close: Callable[[], None]) -> Iterator[None]:
        key = id(sock)
        with self._cond:
            self._watched[key] = (sock, on_close)
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._watched.pop(key, None)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._watched and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                watched = dict(self._watched)
            poller = select.poll()
            by_fd = {}
            for key, (sock, on_close) in watched.items():
                try:
                    fd = sock.fileno()
                except OSError:
                    continue
                if fd >= 0:
                    by_fd[fd] = (key, sock, on_close)
                    poller.register(fd, select.POLLIN | select.POLLPRI)
            for fd, events in poller.poll(self._interval_ms):
                key, sock, on_close = by_fd[fd]
                if self._hung_up(sock, events):
                    with self._cond:
                        still = self._watched.pop(key, None)
                    if still is not None:
                        try:
                            on_close()
                        except Exception:  # noqa: BLE001 - keep watching the others
                            log.exception("cancelling the query of a closed connection")
                else:
                    with self._cond:
                        self._watched.pop(key, None)  # pipelined bytes: not a hang-up

    @staticmethod
    def _hung_up(sock: socket.socket, events: int) -> bool:
        if events & (select.POLLHUP | select.POLLERR | select.POLLNVAL):
            return True
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
