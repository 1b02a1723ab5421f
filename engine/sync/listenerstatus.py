"""What a listener reports: status snapshots and past-tense events.

Events are small frozen dataclasses; `EventStream` is one subscriber's queue
(oldest dropped past its length, so a stalled reader never blocks the listener).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import anyio


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """One authenticated client connection, as the status shows it."""

    id: int
    user: str
    address: str
    db: str
    since: float  # time.time() when the upgrade was accepted
    busy: bool


@dataclass(frozen=True, slots=True)
class ListenerStatus:
    """A snapshot of the listener."""

    running: bool
    port: int | None
    urls: tuple[str, ...]
    connections: tuple[ConnectionInfo, ...]

    @property
    def connection_count(self) -> int:
        return len(self.connections)

    @property
    def active_count(self) -> int:
        return sum(1 for c in self.connections if c.busy)


@dataclass(frozen=True, slots=True)
class ListenerStarted:
    port: int
    urls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClientConnected:
    connection: ConnectionInfo


@dataclass(frozen=True, slots=True)
class ClientActivityChanged:
    """The handler marked the connection busy or idle (`connection.busy`)."""

    connection: ConnectionInfo


@dataclass(frozen=True, slots=True)
class ClientDisconnected:
    connection: ConnectionInfo
    reason: str


@dataclass(frozen=True, slots=True)
class ClientRejected:
    """An upgrade was refused with 401 (or 500 if the authenticator failed)."""

    address: str
    user: str | None
    status: int


@dataclass(frozen=True, slots=True)
class ListenerStopped:
    pass


ListenerEvent = (
    ListenerStarted | ClientConnected | ClientActivityChanged | ClientDisconnected
    | ClientRejected | ListenerStopped
)


class EventStream:
    """A subscription to listener events; the oldest are dropped past `maxlen`."""

    def __init__(self, maxlen: int, on_close: Callable[[EventStream], None]) -> None:
        self._on_close = on_close
        self._queue: deque[ListenerEvent] = deque(maxlen=maxlen)
        self._wake = anyio.Event()
        self._closed = False

    def _push(self, event: ListenerEvent) -> None:
        self._queue.append(event)
        self._wake.set()

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ListenerEvent:
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            await self._wake.wait()
            self._wake = anyio.Event()
        return self._queue.popleft()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._on_close(self)

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> EventStream:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
