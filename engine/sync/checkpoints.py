"""The active peer's replication checkpoints: the last remote (pull) and local (push)
sequence numbers known to be done, kept as local documents per remote database.

They are written by a task of their own, never in the way of the transfer (each
write is an fsync under the store's write lock, which the next batch of revisions
waits for): at most every BULK_CHECKPOINT_DELAY in a one-shot session (a write
per stored batch cost a 10k-document pull a dozen fsyncs), at most every
CHECKPOINT_DELAY in a continuous one (one per live edit, two with the push
side's, would hold up the next edit), and at the end of every session. A
checkpoint held back is only resume progress: after a crash the next session
compares a little more again, and sends nothing twice.
"""

from __future__ import annotations

import logging

import anyio

from engine.errors import EngineError
from engine.store.database import Database
from engine.sync.status import Direction

CHECKPOINT_DELAY = 0.5  # seconds a continuous session may hold back a checkpoint write
BULK_CHECKPOINT_DELAY = 0.1  # the same for a one-shot session
log = logging.getLogger(__name__)


def checkpoint_id(remote_uuid: str, direction: Direction) -> str:
    return f"replication/{remote_uuid}/{direction.value}"


class Checkpoints:
    """One session's checkpoints; set `remote_uuid` after the handshake."""

    def __init__(self, db: Database, *, continuous: bool) -> None:
        self.db = db
        self.continuous = continuous
        self.remote_uuid = ""
        self.blocked = {Direction.PULL: False, Direction.PUSH: False}  # a doc failed: hold
        self._lock = anyio.Lock()
        self._saved: dict[Direction, int] = {}
        self._unsaved: dict[Direction, int] = {}
        self._due = anyio.Event()

    async def load(self, direction: Direction) -> int:
        body = await anyio.to_thread.run_sync(
            self.db.get_local, checkpoint_id(self.remote_uuid, direction))
        seq = body.get("seq") if isinstance(body, dict) else None
        return seq if type(seq) is int and seq >= 0 else 0

    def save(self, direction: Direction, seq: int) -> None:
        """Note a checkpoint for the writer (`run`); later ones supersede it."""
        self._unsaved[direction] = max(seq, self._unsaved.get(direction, -1))
        self._due.set()

    async def run(self) -> None:
        """The writer: run it in the session's task group."""
        while True:
            await self._due.wait()
            await anyio.sleep(CHECKPOINT_DELAY if self.continuous else BULK_CHECKPOINT_DELAY)
            self._due = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        """Write what is held back (at the end of a session, too)."""
        while self._unsaved:
            direction, seq = next(iter(self._unsaved.items()))
            try:
                await self._write(direction, seq)
            except EngineError:
                # Only a resume optimisation: a lost checkpoint means comparing again.
                log.warning("Could not save the %s checkpoint", direction.value, exc_info=True)
            # Dropped only now: a write cancelled half-way is retried by the final flush.
            if self._unsaved.get(direction) == seq:
                del self._unsaved[direction]

    async def _write(self, direction: Direction, seq: int) -> None:
        # Two pull tasks may both advance the checkpoint: never let it move backwards.
        async with self._lock:
            if self.blocked[direction] or seq <= self._saved.get(direction, -1):
                return
            await anyio.to_thread.run_sync(
                self.db.put_local, checkpoint_id(self.remote_uuid, direction), {"seq": seq})
            self._saved[direction] = seq
