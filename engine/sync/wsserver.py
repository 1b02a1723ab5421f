"""Server side of one websocket connection over an anyio byte stream.

`ServerChannel` speaks websocket frames over a stream whose HTTP upgrade was
accepted (see `wsupgrade`): whole binary frames in (read by `wsread`) and out,
pings answered and sent, a silent peer dropped, our frame limit enforced without
buffering past it, and the close handshake (`WsState`) tracked here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

import anyio
from anyio.abc import ByteStream

from engine.errors import EngineError, LocalProtocolError, NetworkError, RemoteProtocolError
from engine.sync.channel import DEFAULT_MAX_FRAME, MessageChannel
from engine.sync.wsframe import OP_PING, OP_PONG, binary_header, close_frame, control_frame
from engine.sync.wsread import Close, FrameReader, Message, Ping, Refused

log = logging.getLogger(__name__)

# Bytes per socket read. A 2 MiB frame read 64 KiB at a time cost the client 4.3-5.4 ms of
# CPU (httpx-ws/wsproto work per read), 256 KiB at a time 2.0-2.9 ms; a peer over our
# frame limit is still refused within one read of it.
READ_CHUNK = 256 * 1024
STREAM_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.EndOfStream, OSError)


class WsState(Enum):
    """Where the close handshake stands (RFC 6455 section 7)."""

    OPEN = "open"
    LOCAL_CLOSING = "local closing"  # our close went out; the peer's answer is awaited
    REMOTE_CLOSING = "remote closing"  # the peer's close came; ours has not gone out yet
    CLOSED = "closed"


# The legal moves: sending our close, reading the peer's; anything else, no move.
_AFTER_CLOSE_SENT = {WsState.OPEN: WsState.LOCAL_CLOSING, WsState.REMOTE_CLOSING: WsState.CLOSED}
_AFTER_CLOSE_READ = {WsState.OPEN: WsState.REMOTE_CLOSING, WsState.LOCAL_CLOSING: WsState.CLOSED}


@dataclass(frozen=True)
class WebSocketSettings:
    """Limits and timers of one websocket connection (server side)."""

    max_frame: int = DEFAULT_MAX_FRAME  # bytes per message, both directions
    heartbeat: float = 15.0  # seconds between our pings; silent for 2 of these = dead
    handshake_timeout: float = 10.0  # seconds for TLS + HTTP upgrade together
    close_timeout: float = 2.0  # seconds to wait for the peer's close reply
    max_request_bytes: int = 16384  # HTTP request head size limit
    queue: int = 4  # whole frames buffered ahead of receive()


class ServerChannel:
    """One accepted websocket connection; a `MessageChannel` while `running()`."""

    def __init__(
        self, stream: ByteStream, *, peer_address: str, user: str,
        db: str, settings: WebSocketSettings, pending: bytes = b"",
    ) -> None:
        self._stream = stream
        self._frames = FrameReader(settings.max_frame)
        self.state = WsState.OPEN
        self._peer_address = peer_address
        self._user = user
        self.db = db
        self.settings = settings
        self.since = time.time()
        self.on_busy_change: Callable[[ServerChannel], None] | None = None
        self._busy = 0
        self._pending = pending
        self._in_send, self._in_receive = anyio.create_memory_object_stream[bytes](settings.queue)
        self._write_lock = anyio.Lock()
        self._op_scopes: set[anyio.CancelScope] = set()
        self._reader_scope = anyio.CancelScope()
        self._done = anyio.Event()  # no more bytes will be read
        self._close_finished = anyio.Event()
        self._error: EngineError | None = None
        self._closing = False
        self._delivering = False
        self._last_seen = anyio.current_time()
        self.close_code: int | None = None  # the close code sent or received first

    @property
    def peer_address(self) -> str:
        return self._peer_address

    @property
    def user(self) -> str | None:
        return self._user

    @property
    def error(self) -> EngineError | None:
        """Why the connection ended (None while it is healthy)."""
        return self._error

    @property
    def is_busy(self) -> bool:
        return self._busy > 0

    @contextmanager
    def busy(self) -> Iterator[None]:
        """Mark the channel busy (in-flight sync work) for the `with` block."""
        self._busy += 1
        if self._busy == 1 and self.on_busy_change:
            self.on_busy_change(self)
        try:
            yield
        finally:
            self._busy -= 1
            if self._busy == 0 and self.on_busy_change:
                self.on_busy_change(self)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ServerChannel]:
        """Run the reader and heartbeat for the `async with` block, then close."""
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._reader)
                tg.start_soon(self._heartbeat)
                try:
                    yield self
                finally:
                    with anyio.CancelScope(shield=True):
                        await self.close()
                    tg.cancel_scope.cancel()
        finally:
            self._in_send.close()
            self._in_receive.close()

    async def send(self, frame: bytes) -> None:
        if len(frame) > self.settings.max_frame:
            raise LocalProtocolError(
                f"A {len(frame)}-byte frame exceeds the limit of {self.settings.max_frame} bytes."
            )
        if self._closing or self._error is not None:
            raise self._error or NetworkError("The connection is closed.")
        # One unmasked binary frame, written as header + payload: wsproto would make
        # four copies of the payload (megabytes per revs frame). No extension is ever
        # negotiated (see wsupgrade), so the frame is exactly what wsproto would build.
        await self._send_frame(binary_header(len(frame)), frame)

    async def receive(self) -> bytes:
        try:
            return await self._in_receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise self._error or NetworkError("The connection is closed.") from None

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame, wait (bounded) for the reply, stop reading (idempotent)."""
        if self._closing:
            await self._close_finished.wait()
            return
        self._closing = True
        try:
            self._fail(NetworkError(
                f"This side closed the connection (code {code}{': ' + reason if reason else ''})."
            ))
            self._in_receive.close()
            if self.state is WsState.OPEN and not self._done.is_set():
                self.close_code = self.close_code or code
                with anyio.move_on_after(self.settings.close_timeout):
                    try:
                        await self._send_close(code, reason)
                        await self._done.wait()
                    except EngineError:
                        pass
            elif not self._done.is_set():  # a refusal's close is out; its drain is bounded
                with anyio.move_on_after(self.settings.close_timeout):
                    await self._done.wait()
            self._reader_scope.cancel()
        finally:
            self._close_finished.set()

    def _fail(self, error: EngineError) -> None:
        if self._error is None:
            self._error = error

    async def _send_close(self, code: int, reason: str = "") -> None:
        await self._send_frame(close_frame(code, reason), closing=True)

    async def _send_frame(self, *pieces: bytes, closing: bool = False) -> None:
        """Write one frame (in pieces); with `closing`, our close frame."""
        with anyio.CancelScope() as scope:
            self._op_scopes.add(scope)
            try:
                async with self._write_lock:
                    if closing and self.state in _AFTER_CLOSE_SENT:
                        self.state = _AFTER_CLOSE_SENT[self.state]
                    elif closing or self.state is not WsState.OPEN:
                        raise self._error or NetworkError("The connection is closing.")
                    if len(pieces) > 1 and len(pieces[-1]) <= 65536:
                        pieces = (b"".join(pieces),)
                    for data in pieces:
                        await self._stream.send(data)
            except STREAM_ERRORS as err:
                self._fail(NetworkError("The connection to the peer was lost."))
                self._die()
                raise self._error or NetworkError("The connection was lost.") from err
            finally:
                self._op_scopes.discard(scope)
        if scope.cancelled_caught:
            raise self._error or NetworkError("The connection was lost.")

    def _die(self) -> None:
        """Stop everything in flight: reader, blocked writes, waiting receivers."""
        self._reader_scope.cancel()
        for scope in list(self._op_scopes):
            scope.cancel()
        self._in_send.close()
        self._done.set()

    async def _reader(self) -> None:
        try:
            with self._reader_scope:
                if self._pending:
                    await self._feed(self._pending)
                while not self._done.is_set():
                    try:
                        data = await self._stream.receive(READ_CHUNK)
                    except STREAM_ERRORS:
                        self._fail(NetworkError("The peer dropped the connection."))
                        break
                    self._last_seen = anyio.current_time()
                    await self._feed(data)
        except EngineError as err:
            self._fail(err)
        finally:
            self._in_send.close()
            self._done.set()

    async def _feed(self, data: bytes) -> None:
        for event in self._frames.feed(data):
            if type(event) is Message:
                await self._deliver(event.data)
            elif type(event) is Ping:
                await self._send_frame(control_frame(OP_PONG, event.payload))
            elif type(event) is Close:
                await self._peer_closed(event)
            elif type(event) is Refused:
                await self._refuse(event)
            # (a Pong needs nothing: any bytes from the peer already count as a sign of life)

    async def _deliver(self, frame: bytes) -> None:
        self._delivering = True
        try:
            await self._in_send.send(frame)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # closed locally; the frame has nobody to go to
        finally:
            self._delivering = False

    async def _peer_closed(self, event: Close) -> None:
        self.close_code = self.close_code or event.code
        self._fail(NetworkError(
            f"The peer closed the connection (code {event.code}"
            f"{': ' + event.reason if event.reason else ''})."
        ))
        answer = self.state is WsState.OPEN
        self.state = _AFTER_CLOSE_READ.get(self.state, self.state)
        if answer:
            with anyio.move_on_after(self.settings.close_timeout):
                await self._send_close(event.code, event.reason)  # (echoed, as RFC 6455 asks)
        self._done.set()

    async def _refuse(self, event: Refused) -> None:
        if event.code == 1009:
            await self._abort(1009, "message too big", RemoteProtocolError(
                f"The peer sent a frame over the limit of {self.settings.max_frame} bytes."
            ), drain=True)
        elif event.code == 1003:
            await self._abort(1003, "binary frames only", RemoteProtocolError(
                "The peer sent a text frame; only binary frames are allowed."
            ))
        else:
            await self._abort(event.code, "protocol error", RemoteProtocolError(
                f"The peer broke the websocket protocol: {event.reason}."
            ))

    async def _abort(
        self, code: int, reason: str, error: EngineError, *, drain: bool = False
    ) -> None:
        self._fail(error)
        self.close_code = self.close_code or code
        log.info("Closing the connection from %s: %s", self._peer_address, error)
        if self.state is WsState.OPEN:
            with anyio.move_on_after(self.settings.close_timeout):
                try:
                    await self._send_close(code, reason)
                    if drain:
                        await self._drain()
                except EngineError:
                    pass
        self._die()

    async def _drain(self) -> None:
        """Read and drop what the peer still sends, until it hangs up (the caller bounds
        the wait). A message over the limit is refused at its header, when the peer is
        still sending it: closing on unread bytes would reset the connection, and the
        reset would throw away our close frame before the peer read why."""
        self._in_send.close()  # (the handler learns at once)
        try:
            while True:
                await self._stream.receive(READ_CHUNK)
        except STREAM_ERRORS:
            pass

    async def _heartbeat(self) -> None:
        interval = self.settings.heartbeat
        last_ping = anyio.current_time()
        while not self._done.is_set():
            # Wake at the silence deadline too, so a dead peer is noticed within 2 heartbeats.
            silence_left = self._last_seen + 2 * interval - anyio.current_time()
            await anyio.sleep(min(interval / 4, max(0.0, silence_left) + 0.001))
            now = anyio.current_time()
            # A frame we cannot hand to a slow handler is our delay, not the peer's.
            if not self._delivering and now - self._last_seen > 2 * interval:
                self._fail(NetworkError(
                    f"The peer stopped answering for {2 * interval:g} seconds."
                ))
                log.info("Dropping %s: no answer to pings", self._peer_address)
                self._die()
                return
            if now - last_ping >= interval and not self._closing:
                last_ping = now
                with anyio.move_on_after(interval):
                    try:
                        await self._send_frame(control_frame(OP_PING, b"listsync"))
                    except EngineError:
                        return


if TYPE_CHECKING:

    def _is_a_message_channel(channel: ServerChannel) -> MessageChannel:
        return channel  # mypy proves the protocol is met
