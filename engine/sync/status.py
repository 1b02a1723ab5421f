"""What a replicator reports: its status as it changes, and per-document facts.

Both are small frozen dataclasses sent on anyio memory streams (see
`Replicator.events`); a slow reader misses document events, never a crash.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from engine.errors import EngineError


class Activity(enum.Enum):
    STOPPED = "stopped"  # not running (finished one-shot, stopped, or failed)
    OFFLINE = "offline"  # waiting to retry after a transient failure
    CONNECTING = "connecting"  # opening the connection and handshake
    IDLE = "idle"  # connected and caught up both ways
    BUSY = "busy"  # connected and transferring


class Direction(enum.Enum):
    PUSH = "push"
    PULL = "pull"


@dataclass(frozen=True, slots=True)
class ReplicatorStatus:
    """The replicator's state; `done`/`total` count revisions in this session."""

    activity: Activity
    done: int = 0
    total: int = 0
    error: EngineError | None = None


@dataclass(frozen=True, slots=True)
class DocumentReplicated:
    """One revision pushed or pulled, or failed (then `error` says why)."""

    doc_id: str
    rev: str
    direction: Direction
    deleted: bool = False
    error: str | None = None


ReplicatorEvent = ReplicatorStatus | DocumentReplicated


@dataclass
class EventHub:
    """Fan events out to every open listener stream."""

    status: ReplicatorStatus = field(default_factory=lambda: ReplicatorStatus(Activity.STOPPED))
    _listeners: list[MemoryObjectSendStream[ReplicatorEvent]] = field(default_factory=list)

    def listen(self, buffer: int = 1000) -> MemoryObjectReceiveStream[ReplicatorEvent]:
        """A stream of events from now until `close()` (the current status first)."""
        send, receive = anyio.create_memory_object_stream[ReplicatorEvent](buffer)
        send.send_nowait(self.status)
        self._listeners.append(send)
        return receive

    @property
    def wanted(self) -> bool:
        return bool(self._listeners)

    def set_status(self, status: ReplicatorStatus) -> None:
        if status != self.status:
            self.status = status
            self.publish(status)

    def publish(self, event: ReplicatorEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener.send_nowait(event)
            except anyio.WouldBlock:
                pass  # a slow reader loses events; status is also on `Replicator.status`
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                listener.close()  # the reader left; an unclosed stream warns when collected
                self._listeners.remove(listener)

    def close(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()


