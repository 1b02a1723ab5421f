"""A protocol `Connection` driven over a `MessageChannel`: the one place frames move.

`Link` serializes sends (so request ids go out in order), routes replies to
the task waiting for them, records when the peer was last heard, and turns a
peer's bad frame into one fatal error frame plus a closed channel.
"""

from __future__ import annotations

import gc
import math
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from engine.errors import EngineError, LocalProtocolError, NetworkError, RemoteProtocolError
from engine.protocol import (
    BlobChunk,
    CaughtUp,
    Changes,
    Connection,
    DocRev,
    Error,
    Message,
    Revs,
    VersionMismatchError,
)
from engine.sync.channel import MessageChannel


@dataclass
class SessionStats:
    """Counters for one connection; `track_keys` also records every revision sent."""

    frames_sent: int = 0
    frames_received: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    revs_sent: int = 0
    revs_received: int = 0
    track_keys: bool = False
    sent_keys: Counter[DocRev] = field(default_factory=Counter)

    @property
    def duplicates(self) -> int:
        """Revisions sent more than once over this connection."""
        return sum(n - 1 for n in self.sent_keys.values() if n > 1)


class Link:
    """Send and receive protocol messages over one channel."""

    def __init__(self, channel: MessageChannel, conn: Connection,
                 stats: SessionStats | None = None) -> None:
        self.channel = channel
        self.conn = conn
        self.stats = stats or SessionStats()
        self.last_heard = -math.inf
        self._lock = anyio.Lock()
        self._waiters: dict[int, MemoryObjectSendStream[Message]] = {}

    async def send(self, msg: Message | Callable[[int], Message]) -> Message:
        """Send a message; pass `lambda id: Msg(id, ...)` to get a fresh request id."""
        async with self._lock:
            if not isinstance(msg, Message):
                msg = msg(self.conn.new_id())
            frame = self.conn.send(msg)
            await self.channel.send(frame)
        self.stats.frames_sent += 1
        self.stats.bytes_sent += len(frame)
        if isinstance(msg, Revs | Changes):
            revs = msg.revs if isinstance(msg, Revs) else msg.inline  # "inline" ride along
            self.stats.revs_sent += len(revs)
            if self.stats.track_keys:
                self.stats.sent_keys.update(r.key for r in revs)
        return msg

    async def request(self, make: Callable[[int], Message], buffer: int = 16
                      ) -> tuple[Message, MemoryObjectReceiveStream[Message]]:
        """Send a request; its replies (and an error answering it) come on the stream."""
        send, receive = anyio.create_memory_object_stream[Message](buffer)

        def register(request_id: int) -> Message:
            self._waiters[request_id] = send
            return make(request_id)

        try:
            msg = await self.send(register)
        except BaseException:
            send.close()
            receive.close()
            raise
        return msg, receive

    def forget(self, request_id: int) -> None:
        waiter = self._waiters.pop(request_id, None)
        if waiter is not None:
            waiter.close()

    async def receive(self) -> Message:
        """The next message that no waiter claimed; replies go to their waiters."""
        while True:
            frame = await self.channel.receive()
            self.last_heard = anyio.current_time()
            self.stats.frames_received += 1
            self.stats.bytes_received += len(frame)
            try:
                msg = _receive_without_gc(self.conn, frame)
            except VersionMismatchError as err:
                await self.fail("version", str(err))
                raise
            except RemoteProtocolError as err:
                await self.fail("protocol", str(err))
                raise
            if isinstance(msg, Revs):
                self.stats.revs_received += len(msg.revs)
            elif isinstance(msg, Changes):
                self.stats.revs_received += len(msg.inline)
            reply_to = getattr(msg, "re", None)
            waiter = None if isinstance(msg, CaughtUp) else self._waiters.get(reply_to or -1)
            if waiter is None:
                return msg
            try:
                await waiter.send(msg)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass  # the waiting task gave up; late replies are dropped
            if not (isinstance(msg, BlobChunk) and not msg.last):
                self.forget(reply_to or -1)

    async def fail(self, code: str, message: str) -> None:
        """Tell the peer why we give up (best effort), then close the channel."""
        with anyio.CancelScope(shield=True):
            try:
                with anyio.move_on_after(2):
                    async with self._lock:
                        await self.channel.send(self.conn.send(Error(code, message[:1000])))
            except (NetworkError, LocalProtocolError):
                pass
            await self.close(1002 if code == "protocol" else 1011, message[:120])

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with anyio.CancelScope(shield=True):
            for request_id in list(self._waiters):
                self.forget(request_id)
            try:
                await self.channel.close(code, reason)
            except NetworkError:
                pass


def _receive_without_gc(conn: Connection, frame: bytes) -> Message:
    # Decoding a big frame allocates thousands of containers; with a large store index
    # in memory, the collector's passes over them cost more than the decoding itself.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return conn.receive(frame)
    finally:
        if enabled:
            gc.enable()


@contextmanager
def one_error() -> Iterator[None]:
    """Turn a task group's ExceptionGroup of engine errors into its most telling one."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if not all(isinstance(e, EngineError) for e in leaves):
            raise
        chosen = next((e for e in leaves if not isinstance(e, NetworkError)), leaves[0])
        raise chosen from None


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return out
