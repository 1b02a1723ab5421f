"""A helper thread that indexes a big batch while the writer waits in fdatasync.

fdatasync releases the GIL for its ~0.3-0.5 ms, and a big batch's index updates
(a few us a record) fit in that wait when another thread runs them. The writer
starts the job, syncs, then waits for the job, so nothing is acknowledged (and
the database's mutex is not let go) before both are done.

It is the helper that runs Python while the writer sleeps in the system call,
not the other way round: a helper calling fdatasync would first need the GIL,
which a writer busy indexing keeps for up to the 5 ms switch interval.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

# Records in a batch from which the hand-off pays for itself: it cost 20-40 us of CPU
# a batch (wake-ups, GIL hand-overs) on a busy 2-core machine, and hides the batch's
# index time, ~1.5 us a new document (more for revisions with history).
MIN_RECORDS = 32


class Helper:
    """One helper thread: `start(job)`, then `wait()`, one job at a time."""

    __slots__ = ("_go", "_done", "_job", "_error", "busy")

    def __init__(self) -> None:
        # Bare locks, released by one thread and acquired by the other: the
        # cheapest hand-off threading has (a Condition or a Queue costs more).
        self._go = threading.Lock()
        self._go.acquire()
        self._done = threading.Lock()
        self._done.acquire()
        self._job: Callable[[], None] | None = None
        self._error: BaseException | None = None
        self.busy = False
        threading.Thread(target=self._serve, name="store-index", daemon=True).start()

    def _serve(self) -> None:
        while True:
            self._go.acquire()
            job, self._job = self._job, None
            assert job is not None
            try:
                job()
            except BaseException as err:  # raised again in the writer, by wait()
                self._error = err
            self._done.release()

    def start(self, job: Callable[[], None]) -> None:
        self._job = job
        self.busy = True
        self._go.release()

    def wait(self) -> None:
        """Until the job is done; raises what the job raised."""
        self._done.acquire()
        self.busy = False
        err, self._error = self._error, None
        if err is not None:
            raise err


# Idle helpers, shared by every database in the process: as many threads as
# batches were ever committed at once, and none to stop when a database closes.
# (list.pop and list.append are atomic under the GIL.)
_idle: list[Helper] = []


def borrow() -> Helper:
    try:
        return _idle.pop()
    except IndexError:
        return Helper()


def give_back(helper: Helper) -> None:
    if not helper.busy:  # one left busy (its writer interrupted) is not reused
        _idle.append(helper)


# A forked child has none of its parent's threads: the idle helpers there are dead.
os.register_at_fork(after_in_child=_idle.clear)
