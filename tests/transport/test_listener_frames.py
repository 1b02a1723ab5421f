"""The listener's frame reading and close handshake, spoken to by raw clients over sockets."""

from __future__ import annotations

import anyio
import pytest
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong
from wsproto.frame_protocol import CloseReason

from engine.errors import NetworkError
from engine.sync.listenerstatus import ClientDisconnected
from engine.sync.wsserver import ServerChannel, WebSocketSettings, WsState
from tests.transport.rawframes import BINARY, CLOSE, close_payload, frame
from tests.transport.support import RawClient, next_event_of, running_listener

pytestmark = pytest.mark.anyio


class Recorder:
    """A handler that keeps its channel and every frame it received, and echoes them."""

    def __init__(self) -> None:
        self.channels: list[ServerChannel] = []
        self.frames: list[bytes] = []

    async def __call__(self, channel: ServerChannel, db: str) -> None:
        self.channels.append(channel)
        while True:
            try:
                frame = await channel.receive()
            except NetworkError:
                return
            self.frames.append(frame)
            await channel.send(frame)


@pytest.mark.parametrize("code, reason", [(4000, "done"), (1000, ""),
                                          (CloseReason.NO_STATUS_RCVD, "")])
async def test_a_peer_close_is_answered_with_its_code_and_ends_the_connection(
    code: int, reason: str
) -> None:
    handler = Recorder()
    async with running_listener(handler) as listener, RawClient.connect(listener.port or 0) \
            as raw:
        with listener.events() as events, anyio.fail_after(5):
            await raw.send(CloseConnection(code=code, reason=reason))
            assert await raw.next_event() == CloseConnection(code=code, reason=reason)
            gone = await next_event_of(events, ClientDisconnected)
    channel, = handler.channels
    assert channel.close_code == code and channel.state is WsState.CLOSED
    said = f": {reason}" if reason else ""
    assert gone.reason == f"The peer closed the connection (code {int(code)}{said})."


async def test_frames_after_the_peer_close_are_not_read() -> None:
    handler = Recorder()
    async with running_listener(handler) as listener, RawClient.connect(listener.port or 0) \
            as raw:
        with listener.events() as events, anyio.fail_after(5):
            await raw.stream.send(frame(BINARY, b"before") + frame(CLOSE, close_payload(1000))
                                  + frame(BINARY, b"after") + b"\xff" * 20)
            gone = await next_event_of(events, ClientDisconnected)
    assert handler.frames == [b"before"]
    assert gone.reason == "The peer closed the connection (code 1000)."  # not the garbage


async def test_an_unmasked_frame_closes_only_that_connection_with_1002() -> None:
    async with running_listener(Recorder()) as listener, \
            RawClient.connect(listener.port or 0) as healthy, \
            RawClient.connect(listener.port or 0) as broken:
        with listener.events() as events, anyio.fail_after(5):
            await broken.stream.send(frame(BINARY, b"plain", key=None))
            event = await broken.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1002
            gone = await next_event_of(events, ClientDisconnected)
            assert gone.reason == ("The peer broke the websocket protocol: "
                                   "an unmasked frame from a client.")
            await healthy.send(BytesMessage(data=b"still fine"))
            assert await healthy.next_event() == BytesMessage(data=b"still fine")


async def test_a_fragmented_message_with_a_ping_between_is_received_whole() -> None:
    handler = Recorder()
    async with running_listener(handler) as listener, RawClient.connect(listener.port or 0) \
            as raw:
        with anyio.fail_after(5):
            await raw.send(BytesMessage(data=b"ab", message_finished=False))
            await raw.send(Ping(payload=b"between"))
            await raw.send(BytesMessage(data=b"c" * 70000, message_finished=False))
            await raw.send(Pong(payload=b"unasked"))
            await raw.send(BytesMessage(data=b"d", message_finished=True))
            assert await raw.next_event() == Pong(payload=b"between")
            echoed = b""
            while len(echoed) < 70003:  # (the client reads the echo in parts)
                event = await raw.next_event()
                assert isinstance(event, BytesMessage)
                echoed += event.data
    assert handler.frames == [b"ab" + b"c" * 70000 + b"d"] and echoed == handler.frames[0]


async def test_a_server_close_is_done_when_the_peer_answers_it() -> None:
    # A long close timeout: stop() returns within fail_after only if the answer counted.
    settings = WebSocketSettings(close_timeout=60)
    handler = Recorder()
    async with running_listener(handler, settings=settings) as listener, \
            RawClient.connect(listener.port or 0) as raw:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:
                tg.start_soon(listener.stop)
                event = await raw.next_event()
                assert isinstance(event, CloseConnection) and event.code == 1001
                await raw.send(event.response())
    channel, = handler.channels
    assert channel.close_code == 1001 and channel.state is WsState.CLOSED


async def test_a_peer_still_sending_a_refused_message_reads_why_it_was_refused() -> None:
    # Refused at its header, the message is still on its way: the listener reads and
    # drops the rest rather than reset the connection (which would lose its close frame).
    settings = WebSocketSettings(max_frame=64 * 1024)
    async with running_listener(Recorder(), settings=settings) as listener, \
            RawClient.connect(listener.port or 0) as raw:
        with anyio.fail_after(10):
            await raw.stream.send(frame(BINARY, b"z" * (8 * 1024 * 1024)))
            event = await raw.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1009
