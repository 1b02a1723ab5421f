"""Change notification: wake subscribers on new writes, from any thread or process.

Writes through this handle wake subscribers at once (scheduled onto each
subscriber's own event loop, so writers on worker threads are fine); other
processes' appends are noticed by a statx and a read of the journal every 50 ms,
done only while someone is subscribed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
from anyio.lowlevel import EventLoopToken, current_token

if TYPE_CHECKING:
    from engine.store.database import Database

POLL_SECONDS = 0.05  # how often a subscriber looks for other processes' appends


class _Waiter:
    def __init__(self, token: EventLoopToken) -> None:
        self.token = token
        self.event = anyio.Event()


class ChangeFeed:
    """The subscribers of one Database handle."""

    def __init__(self) -> None:
        self._waiters: set[_Waiter] = set()

    def notify(self) -> None:
        """Called after every acknowledged write; never blocks the writer."""
        for waiter in list(self._waiters):
            try:
                waiter.token.backend_class.run_sync_soon(
                    waiter.event.set, (), waiter.token.native_token)
            except RuntimeError:  # that subscriber's event loop has ended
                self._waiters.discard(waiter)

    def register(self) -> _Waiter:
        waiter = _Waiter(current_token())
        self._waiters.add(waiter)
        return waiter

    def unregister(self, waiter: _Waiter) -> None:
        self._waiters.discard(waiter)

    @staticmethod
    async def seq_after_arming(waiter: _Waiter, db: Database) -> int:
        """Re-arm `waiter`, then read update_seq: a write landing after the read
        sets the fresh event, so no wake-up is lost."""
        waiter.event = anyio.Event()
        db._check_open()
        seq = db._seq_if_current()
        if seq is not None:
            return seq
        return await anyio.to_thread.run_sync(lambda: db.update_seq)

    @staticmethod
    async def wait(waiter: _Waiter) -> None:
        """Until a local write or the next poll of the journal, whichever is first."""
        with anyio.move_on_after(POLL_SECONDS):
            await waiter.event.wait()
