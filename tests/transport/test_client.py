"""The connector: errors mapped at the edge, frame limit, heartbeats both ways."""

from __future__ import annotations

import anyio
import pytest
from anyio.abc import SocketStream
from wsproto.events import TextMessage

from engine.errors import (
    LocalProtocolError,
    NetworkError,
    RemoteProtocolError,
    UsageError,
)
from engine.sync.listenerstatus import ClientDisconnected
from engine.sync.wsclient import connect
from engine.sync.wsserver import ServerChannel, WebSocketSettings
from tests.transport.support import (
    USERS,
    accept_raw_upgrade,
    next_event_of,
    raw_server,
    read_to_end,
    running_listener,
    url,
)

pytestmark = pytest.mark.anyio
ALICE = {"username": "alice", "password": USERS["alice"]}


async def _free_port() -> int:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = int(listener.extra(anyio.abc.SocketAttribute.local_port))
    await listener.aclose()
    return port


async def test_refused_connection_is_a_network_error() -> None:
    port = await _free_port()
    with anyio.fail_after(5), pytest.raises(NetworkError, match=f"127.0.0.1:{port}"):
        async with connect(f"ws://127.0.0.1:{port}/userdb", **ALICE):
            pass


async def test_unresolvable_host_is_a_network_error() -> None:
    with anyio.fail_after(10), pytest.raises(NetworkError, match="Could not connect"):
        async with connect("ws://no-such-host.invalid:4984/userdb", **ALICE):
            pass


async def test_server_that_never_answers_the_upgrade_times_out() -> None:
    async def mute(stream: SocketStream) -> None:
        await read_to_end(stream)

    async with raw_server(mute) as port:
        with anyio.fail_after(5), pytest.raises(NetworkError, match="Timed out"):
            async with connect(f"ws://127.0.0.1:{port}/userdb", **ALICE, connect_timeout=0.3):
                pass


@pytest.mark.parametrize("bad", ["http://127.0.0.1:1/db", "ws://", "not a url"])
async def test_a_non_websocket_url_is_a_usage_error(bad: str) -> None:
    with pytest.raises(UsageError):
        async with connect(bad, **ALICE):
            pass


async def test_exceptions_raised_in_the_block_come_out_unwrapped() -> None:
    async with running_listener() as listener:
        with pytest.raises(KeyError):
            async with connect(url(listener), **ALICE):
                raise KeyError("mine")


async def test_sending_over_our_limit_is_a_local_protocol_error() -> None:
    async with running_listener() as listener, \
            connect(url(listener), **ALICE, max_frame=1024) as channel:
        with pytest.raises(LocalProtocolError):
            await channel.send(b"x" * 1025)
        await channel.send(b"x" * 1024)
        assert len(await channel.receive()) == 1024


async def test_oversize_frame_from_the_server_is_refused() -> None:
    async def big(channel: ServerChannel, db: str) -> None:
        await channel.send(b"y" * 4096)
        await channel.receive()

    async with running_listener(big) as listener:
        with listener.events() as events:
            with anyio.fail_after(5), pytest.raises(RemoteProtocolError, match="limit"):
                async with connect(url(listener), **ALICE, max_frame=1024) as channel:
                    await channel.receive()
            assert "1009" in (await next_event_of(events, ClientDisconnected)).reason


async def test_text_frame_from_the_server_is_refused() -> None:
    async def texty(stream: SocketStream) -> None:
        ws = await accept_raw_upgrade(stream)
        await stream.send(ws.send(TextMessage(data="hello")))
        await read_to_end(stream)

    async with raw_server(texty) as port:
        with anyio.fail_after(5), pytest.raises(RemoteProtocolError, match="text"):
            async with connect(f"ws://127.0.0.1:{port}/userdb", **ALICE) as channel:
                await channel.receive()


async def test_client_answers_server_pings() -> None:
    settings = WebSocketSettings(heartbeat=0.1)
    async with running_listener(settings=settings) as listener:
        with listener.events() as events:
            async with connect(url(listener), **ALICE, heartbeat=60) as channel:
                # Outlive the server's dead-peer deadline several times over.
                with anyio.move_on_after(0.8):
                    await next_event_of(events, ClientDisconnected)
                    pytest.fail("the server dropped a client that answers pings")
                await channel.send(b"alive")
                assert await channel.receive() == b"alive"


async def test_server_answers_client_pings() -> None:
    settings = WebSocketSettings(heartbeat=60)
    async with running_listener(settings=settings) as listener, \
            connect(url(listener), **ALICE, heartbeat=0.1) as channel:
        with anyio.move_on_after(0.8):
            await channel.receive()  # nothing comes; a dead-peer verdict would raise
            pytest.fail("unexpected frame")
        await channel.send(b"alive")
        assert await channel.receive() == b"alive"


async def test_silent_server_is_detected_within_about_two_heartbeats() -> None:
    async def silent(stream: SocketStream) -> None:
        await accept_raw_upgrade(stream)
        await anyio.sleep_forever()  # neither reads nor answers pings

    async with raw_server(silent) as port:
        async with connect(f"ws://127.0.0.1:{port}/userdb", **ALICE, heartbeat=0.2) as channel:
            start = anyio.current_time()
            with anyio.fail_after(3), pytest.raises(NetworkError, match="stopped answering"):
                await channel.receive()
            assert anyio.current_time() - start < 0.2 * 4


async def test_server_that_stops_reading_fails_a_blocked_send() -> None:
    async def stuck(stream: SocketStream) -> None:
        await accept_raw_upgrade(stream)
        await anyio.sleep_forever()

    async with raw_server(stuck) as port:
        async with connect(f"ws://127.0.0.1:{port}/userdb", **ALICE, heartbeat=0.2) as channel:
            with anyio.fail_after(5), pytest.raises(NetworkError, match="stopped answering"):
                while True:
                    await channel.send(b"q" * 1024 * 1024)


async def test_a_single_frame_announcing_a_gigabyte_from_the_server_is_refused() -> None:
    async def huge(stream: SocketStream) -> None:
        await accept_raw_upgrade(stream)
        await stream.send(bytes([0x82, 127]) + (1 << 30).to_bytes(8, "big") + b"g" * 200_000)
        await read_to_end(stream)

    async with raw_server(huge) as port:
        with anyio.fail_after(5), pytest.raises(RemoteProtocolError, match="limit"):
            async with connect(f"ws://127.0.0.1:{port}/userdb", **ALICE,
                               max_frame=100_000) as channel:
                await channel.receive()
