"""The listener and server channel, spoken to by the real client and by raw sockets."""

from __future__ import annotations

import logging
import os
import socket
import struct

import anyio
import pytest
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from engine.errors import AuthError, NetworkError, RemoteProtocolError
from engine.sync.listener import Listener
from engine.sync.listenerstatus import (
    ClientActivityChanged,
    ClientConnected,
    ClientDisconnected,
    ClientRejected,
    ListenerStarted,
    ListenerStopped,
)
from engine.sync.wsclient import connect
from engine.sync.wsserver import ServerChannel, WebSocketSettings
from tests.transport.support import (
    DB,
    USERS,
    AuthLog,
    RawClient,
    basic,
    echo,
    http_exchange,
    next_event_of,
    read_to_end,
    running_listener,
    upgrade_request,
    url,
)

pytestmark = pytest.mark.anyio
ALICE = {"username": "alice", "password": USERS["alice"]}


async def test_echo_round_trip_small_and_3_mib_frames() -> None:
    async with running_listener() as listener, connect(url(listener), **ALICE) as channel:
        with anyio.fail_after(10):
            for frame in (b"", b"hello", os.urandom(3 * 1024 * 1024)):
                await channel.send(frame)
                assert await channel.receive() == frame


async def test_port_zero_reports_the_port_the_os_picked() -> None:
    async with running_listener() as listener:
        assert listener.port and listener.port > 0
        assert listener.urls == (f"ws://127.0.0.1:{listener.port}/",)
        assert listener.status.running and listener.status.port == listener.port
    assert not listener.running and listener.port is None


async def test_unknown_database_gets_404_and_the_client_names_it() -> None:
    async with running_listener() as listener:
        response = await http_exchange(
            listener.port or 0, upgrade_request("/otherdb", basic("alice", USERS["alice"]))
        )
        assert response.startswith(b"HTTP/1.1 404 ")
        with anyio.fail_after(5), pytest.raises(NetworkError, match="otherdb"):
            async with connect(url(listener, "otherdb"), **ALICE):
                pass


async def test_non_websocket_request_gets_404() -> None:
    async with running_listener() as listener:
        response = await http_exchange(
            listener.port or 0,
            upgrade_request(authorization=basic("alice", USERS["alice"]), websocket=False),
        )
        assert response.startswith(b"HTTP/1.1 404 ")


async def test_wrong_password_and_unknown_user_get_the_same_401_once() -> None:
    auth = AuthLog()
    async with running_listener(auth=auth) as listener:
        port = listener.port or 0
        wrong_password = await http_exchange(port, upgrade_request(None, basic("alice", "x")))
        unknown_user = await http_exchange(port, upgrade_request(None, basic("eve", "x")))
        assert wrong_password == unknown_user
        assert wrong_password.startswith(b"HTTP/1.1 401 ")
        assert b'\r\nWWW-Authenticate: Basic realm="listsync"\r\n' in wrong_password
        auth.calls.clear()
        with anyio.fail_after(5), pytest.raises(
            AuthError, match="The peer refused the user name or password."
        ):
            async with connect(url(listener), username="alice", password="nope"):
                pass
        assert auth.calls == [("alice", "127.0.0.1")]  # once: no retry loop; host only


@pytest.mark.parametrize("header", [
    None, "Basic", "Basic !!!notbase64", "Basic " + "YWxpY2U=",  # "alice", no colon
    "Bearer abc", "Basic " + "/w==",  # not UTF-8
])
async def test_missing_or_malformed_authorization_gets_401(header: str | None) -> None:
    auth = AuthLog()
    async with running_listener(auth=auth) as listener:
        response = await http_exchange(listener.port or 0, upgrade_request(authorization=header))
        assert response.startswith(b"HTTP/1.1 401 ")
        assert auth.calls == []


async def test_handshake_timeout_closes_a_silent_connection() -> None:
    settings = WebSocketSettings(handshake_timeout=0.3)
    async with running_listener(settings=settings) as listener:
        async with await anyio.connect_tcp("127.0.0.1", listener.port or 0) as silent:
            with anyio.fail_after(3):
                assert await read_to_end(silent) == b""


async def test_half_request_and_garbage_do_not_disturb_a_healthy_connection() -> None:
    settings = WebSocketSettings(handshake_timeout=0.5)
    async with running_listener(settings=settings) as listener:
        port = listener.port or 0
        async with connect(url(listener), **ALICE) as healthy:
            async def garbage(i: int) -> None:
                async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                    payloads = [os.urandom(512), b"GET /userdb HTTP/1.1\r\nHost: x\r\n",
                                b"\x16\x03\x01\x02\x00" + os.urandom(64), b"X" * 40000]
                    try:
                        await stream.send(payloads[i % len(payloads)])
                        await read_to_end(stream)
                    except OSError:
                        pass  # the server may reset a socket it refused

            with anyio.fail_after(15):
                async with anyio.create_task_group() as tg:
                    for i in range(200):
                        tg.start_soon(garbage, i)
                    for n in range(20):
                        await healthy.send(b"still here %d" % n)
                        assert await healthy.receive() == b"still here %d" % n
            assert listener.connection_count == 1


async def test_oversize_frame_closes_only_that_connection() -> None:
    settings = WebSocketSettings(max_frame=64 * 1024)
    async with running_listener(settings=settings) as listener:
        async with connect(url(listener), **ALICE) as healthy, \
                connect(url(listener), **ALICE, max_frame=1024 * 1024) as greedy:
            with anyio.fail_after(5):
                await greedy.send(b"x" * (64 * 1024 + 1))
                with pytest.raises(NetworkError, match="1009"):
                    await greedy.receive()
                await healthy.send(b"fine")
                assert await healthy.receive() == b"fine"


async def test_text_frame_is_refused_with_1003() -> None:
    async with running_listener() as listener, RawClient.connect(listener.port or 0) as raw:
        with anyio.fail_after(5):
            await raw.send(TextMessage(data="hello"))
            event = await raw.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1003


async def test_server_answers_pings_and_sends_its_own() -> None:
    settings = WebSocketSettings(heartbeat=0.2)
    async with running_listener(settings=settings) as listener, \
            RawClient.connect(listener.port or 0) as raw:
        with anyio.fail_after(5):
            await raw.send(Ping(payload=b"are you there"))
            assert await raw.next_event() == Pong(payload=b"are you there")
            event = await raw.next_event()
            assert isinstance(event, Ping)


async def test_silent_client_is_dropped_within_about_two_heartbeats() -> None:
    settings = WebSocketSettings(heartbeat=0.2)
    async with running_listener(settings=settings) as listener:
        with listener.events() as events:
            async with RawClient.connect(listener.port or 0):
                await next_event_of(events, ClientConnected)
                start = anyio.current_time()
                with anyio.fail_after(3):
                    gone = await next_event_of(events, ClientDisconnected)
                assert anyio.current_time() - start < 0.2 * 4
                assert "stopped answering" in gone.reason


async def test_client_that_stops_reading_is_dropped_while_the_handler_sends() -> None:
    settings = WebSocketSettings(heartbeat=0.2)
    failures: list[BaseException] = []

    async def flood(channel: ServerChannel, db: str) -> None:
        try:
            while True:
                await channel.send(b"z" * 65536)
        except NetworkError as err:
            failures.append(err)

    async with running_listener(flood, settings=settings) as listener:
        with listener.events() as events:
            async with RawClient.connect(listener.port or 0):  # never reads again
                with anyio.fail_after(5):
                    await next_event_of(events, ClientDisconnected)
    assert failures and "stopped answering" in str(failures[0])


async def test_stop_sends_1001_and_the_client_sees_network_error() -> None:
    async with running_listener() as listener:
        async with connect(url(listener), **ALICE) as channel:
            with listener.events() as events:
                assert listener.connection_count == 1
                async with anyio.create_task_group() as tg:
                    tg.start_soon(listener.stop)
                    with anyio.fail_after(5), pytest.raises(NetworkError, match="1001"):
                        await channel.receive()
                kinds = [type(e) async for e in _until_stopped(events)]
        assert kinds == [ClientDisconnected, ListenerStopped]
        assert not listener.running and listener.connection_count == 0


async def _until_stopped(events):  # type: ignore[no-untyped-def]
    async for event in events:
        yield event
        if isinstance(event, ListenerStopped):
            return


async def test_status_events_track_connections_and_busy_handlers() -> None:
    release = anyio.Event()
    entered = anyio.Event()

    async def slow_echo(channel: ServerChannel, db: str) -> None:
        frame = await channel.receive()
        with channel.busy():
            entered.set()
            await release.wait()
            await channel.send(frame)
        await channel.receive()

    async with running_listener(slow_echo) as listener:
        with listener.events() as events:
            async with connect(url(listener), **ALICE) as channel:
                connected = await next_event_of(events, ClientConnected)
                assert (connected.connection.user, connected.connection.db) == ("alice", DB)
                assert connected.connection.address.startswith("127.0.0.1:")
                await channel.send(b"work")
                with anyio.fail_after(5):
                    await entered.wait()
                    busy = await next_event_of(events, ClientActivityChanged)
                assert busy.connection.busy and listener.active_count == 1
                assert listener.status.connections[0].busy
                release.set()
                assert await channel.receive() == b"work"
                idle = await next_event_of(events, ClientActivityChanged)
                assert not idle.connection.busy and listener.active_count == 0
            with anyio.fail_after(5):
                gone = await next_event_of(events, ClientDisconnected)
            assert gone.connection.id == connected.connection.id
            assert listener.connection_count == 0


async def test_started_and_rejected_events() -> None:
    async with running_listener() as listener:
        pass
    with listener.events() as events:
        async with anyio.create_task_group() as tg:
            await tg.start(listener.serve)
            started = await next_event_of(events, ListenerStarted)
            assert started.port == listener.port
            with pytest.raises(AuthError):
                async with connect(url(listener), username="eve", password="x"):
                    pass
            rejected = await next_event_of(events, ClientRejected)
            assert (rejected.user, rejected.status) == ("eve", 401)
            await listener.stop()


@pytest.mark.parametrize("error, code", [(RemoteProtocolError("bad frame"), 1002),
                                         (ValueError("bug"), 1011)])
async def test_handler_exception_closes_only_its_connection(
    error: Exception, code: int
) -> None:
    async def picky(channel: ServerChannel, db: str) -> None:
        frame = await channel.receive()
        if frame == b"boom":
            raise error
        await channel.send(frame)
        await channel.receive()

    async with running_listener(picky) as listener:
        async with connect(url(listener), **ALICE) as good, \
                connect(url(listener), **ALICE) as bad:
            with anyio.fail_after(5):
                await bad.send(b"boom")
                with pytest.raises(NetworkError, match=str(code)):
                    await bad.receive()
                await good.send(b"ok")
                assert await good.receive() == b"ok"


async def test_oversize_binary_frame_from_raw_client_is_not_buffered() -> None:
    settings = WebSocketSettings(max_frame=1024)
    async with running_listener(settings=settings) as listener, \
            RawClient.connect(listener.port or 0) as raw:
        with anyio.fail_after(5):
            # A message announced as huge but sent in small fragments.
            for _ in range(4):
                await raw.send(BytesMessage(data=b"y" * 512, message_finished=False))
            event = await raw.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1009


async def test_credentials_never_reach_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Pa55word"
    token = basic("alice", secret).split()[1]
    async with running_listener() as listener:
        with pytest.raises(AuthError):
            async with connect(url(listener), username="alice", password=secret):
                pass
        await http_exchange(listener.port or 0, upgrade_request(None, basic("alice", secret)))
        async with connect(url(listener), **ALICE) as channel:
            await channel.send(b"x")
            await channel.receive()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "127.0.0.1" in text  # the logs did capture the listener's messages
    for needle in (secret, token, USERS["alice"], "uthorization"):
        assert needle not in text


async def test_a_port_in_use_is_a_network_error() -> None:
    async with running_listener() as first:
        second = Listener(echo, authenticate=AuthLog(), databases={DB}, host="127.0.0.1",
                          port=first.port or 0)
        with pytest.raises(NetworkError, match=str(first.port)):
            await second.serve()
        assert not second.running


async def test_stop_is_bounded_when_a_handler_ignores_the_close() -> None:
    entered = anyio.Event()

    async def stubborn(channel: ServerChannel, db: str) -> None:
        with channel.busy():
            entered.set()
            await anyio.sleep_forever()

    async with running_listener(stubborn, stop_grace=0.2) as listener, \
            connect(url(listener), **ALICE) as channel:
        with anyio.fail_after(5):
            await entered.wait()
            assert listener.active_count == 1
            await listener.stop()
            with pytest.raises(NetworkError, match="1001"):
                await channel.receive()
        assert listener.connection_count == 0


async def test_listening_on_all_interfaces_reports_a_url_per_address() -> None:
    listener = Listener(echo, authenticate=AuthLog(), databases={DB}, host="0.0.0.0")
    async with anyio.create_task_group() as tg:
        port = await tg.start(listener.serve)
        assert f"ws://127.0.0.1:{port}/" in listener.urls
        assert all(u.startswith("ws://") and u.endswith(f":{port}/") for u in listener.urls)
        async with connect(f"ws://127.0.0.1:{port}/{DB}", **ALICE) as channel:
            await channel.send(b"any interface")
            assert await channel.receive() == b"any interface"
        await listener.stop()


async def test_a_single_frame_announcing_a_gigabyte_is_refused_early() -> None:
    settings = WebSocketSettings(max_frame=64 * 1024)
    async with running_listener(settings=settings) as listener, \
            RawClient.connect(listener.port or 0) as raw:
        header = bytes([0x82, 0x80 | 127]) + (1 << 30).to_bytes(8, "big") + b"\0\0\0\0"
        with anyio.fail_after(5):
            await raw.stream.send(header + b"g" * (128 * 1024))  # zero mask: plain bytes
            event = await raw.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1009


async def test_connections_reset_at_once_do_not_take_the_listener_down() -> None:
    async with running_listener() as listener:
        for _ in range(200):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.connect(("127.0.0.1", listener.port or 0))
            sock.close()  # linger 0: an RST instead of a FIN
        await anyio.wait_all_tasks_blocked()
        with anyio.fail_after(5):
            async with connect(url(listener), **ALICE) as channel:
                await channel.send(b"still serving")
                assert await channel.receive() == b"still serving"
        assert listener.running
