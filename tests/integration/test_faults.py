"""Failures over real sockets: a listener going away, wrong passwords, hostile peers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgpack
import pytest
from wsproto.events import BytesMessage, CloseConnection

from engine.errors import AuthError
from engine.protocol import Connection, Error, Hello, Role
from engine.store import Database
from engine.sync.config import Mode
from engine.sync.listenerstatus import ClientDisconnected
from engine.sync.status import Activity
from tests.integration.proxy import Proxy
from tests.integration.rig import (
    Peer,
    doc_map,
    fill,
    make_peer,
    serving,
    sync_once,
    wait_activity,
    wait_for,
)
from tests.transport.support import RawClient, http_exchange

pytestmark = pytest.mark.anyio


async def test_stopping_the_listener_sends_clients_offline_and_they_resume_on_return(
        tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server", heartbeat=0.5)
    local = Database.open(tmp_path / "client")
    fill(server.db, 20)
    async with anyio.create_task_group() as tg:
        await server.start(tg)
        assert server.listener is not None
        port = server.listener.port
        assert port is not None
        rep = server.replicator(local, continuous=True, heartbeat=0.5)
        with rep.events() as events:
            tg.start_soon(rep.run)
            await wait_for(local, lambda: len(local.all_docs()) == 20)
            await wait_activity(events, Activity.IDLE)

            await server.stop()
            assert server.listener.connection_count == 0
            offline = await wait_activity(events, Activity.OFFLINE)
            assert offline.error is not None  # type: ignore[union-attr]

            server.db.save("theirs-while-away", {"v": 1}, rev=None)
            local.save("mine-while-away", {"v": 2}, rev=None)
            await server.start(tg, port=port)
            await wait_for(local, lambda: local.get("theirs-while-away") is not None)
            await wait_for(server.db, lambda: server.db.get("mine-while-away") is not None)
            await rep.stop()
            await server.stop()
    assert doc_map(local) == doc_map(server.db)


@pytest.mark.parametrize("continuous", [False, True], ids=["one-shot", "continuous"])
async def test_a_wrong_password_stops_after_one_attempt(tmp_path: Path, continuous: bool) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    async with serving(server):
        rep = server.replicator(local, password="not-the-password", continuous=continuous)
        with pytest.raises(AuthError), anyio.fail_after(10):
            await rep.run()
    assert server.auth.attempts == [("alice", False)]
    assert rep.status.activity is Activity.STOPPED
    assert isinstance(rep.status.error, AuthError)


def _client_hello() -> bytes:
    return Connection(Role.CLIENT).send(Hello("hostile", "hostile-db-uuid", (), id=1))


# A map announcing 4 billion pairs, a value nested 5000 deep, and a well-formed
# subscribe whose fields have the wrong types.
HOSTILE = {
    "huge-header": b"\xdf\xff\xff\xff\xff",
    "deep-nesting": b"\x82\xa1t\xa4ping\xa1x" + b"\x91" * 5000 + b"\xc0",
    "wrong-types": (b"\x84\xa1t\xa9subscribe\xa2id\xa1x\xa5since\xa9yesterday"
                    b"\xaacontinuous\x03"),
}


async def _hostile_after_hello(port: int, frame: bytes) -> tuple[int, Error | None]:
    """Send a valid hello, then `frame`; the close code and error frame that come back."""
    error: Error | None = None
    async with RawClient.connect(port, user="bob") as raw:
        await raw.send(BytesMessage(_client_hello()))
        event = await raw.next_event()
        assert isinstance(event, BytesMessage)
        assert _decode(event.data)["t"] == "hello"
        await raw.send(BytesMessage(frame))
        while True:
            event = await raw.next_event()
            if isinstance(event, CloseConnection):
                await raw.send(event.response())
                return event.code, error
            if isinstance(event, BytesMessage):
                msg = _decode(event.data)
                if msg["t"] == "error":
                    error = Error(str(msg["code"]), str(msg["message"]))


@asynccontextmanager
async def bystander(server: Peer, tmp_path: Path) -> AsyncIterator[None]:
    """A continuous client that must stay connected and keep syncing through the block."""
    db = Database.open(tmp_path / "bystander")
    rep = server.replicator(db, continuous=True)
    async with anyio.create_task_group() as tg:
        with rep.events() as status:
            tg.start_soon(rep.run)
            await wait_activity(status, Activity.IDLE)
            yield
            server.db.save("after-the-attack", {"v": 1}, rev=None)
            await wait_for(db, lambda: db.get("after-the-attack") is not None)
            await rep.stop()
            later = [getattr(event, "activity", None) async for event in status]
    assert Activity.OFFLINE not in later and Activity.CONNECTING not in later
    assert doc_map(db) == doc_map(server.db)


def _decode(frame: bytes) -> dict[str, object]:
    value = msgpack.unpackb(frame, raw=False)
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize("kind", sorted(HOSTILE))
async def test_a_hostile_msgpack_frame_closes_only_its_own_connection(
        tmp_path: Path, kind: str) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    fill(server.db, 300)
    expected = doc_map(server.db)
    outcome: list[tuple[int, Error | None]] = []
    async with serving(server), bystander(server, tmp_path):
        assert server.listener is not None and server.listener.port is not None
        port = server.listener.port
        rep = server.replicator(local, mode=Mode.PULL)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sync_once, rep)

            async def hostile() -> None:
                with anyio.fail_after(10):
                    outcome.append(await _hostile_after_hello(port, HOSTILE[kind]))

            tg.start_soon(hostile)
        assert server.listener.running
    assert doc_map(local) == expected
    code, error = outcome[0]
    assert code == 1002
    assert error is not None and error.code == "protocol"


async def test_garbage_bytes_and_an_oversized_frame_close_only_their_connections(
        tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    fill(server.db, 300)
    expected = doc_map(server.db)
    closes: dict[str, object] = {}
    async with serving(server), bystander(server, tmp_path):
        assert server.listener is not None and server.listener.port is not None
        port = server.listener.port
        rep = server.replicator(local, mode=Mode.PULL)
        async with anyio.create_task_group() as tg:
            tg.start_soon(sync_once, rep)

            async def garbage() -> None:
                with anyio.fail_after(15):
                    answer = await http_exchange(port, b"\x16\x03\x01\xff\xff garbage\r\n\r\n")
                closes["garbage"] = answer[:12]

            async def oversized() -> None:
                with anyio.fail_after(15):
                    async with RawClient.connect(port, user="bob") as raw:
                        await raw.send(BytesMessage(_client_hello()))
                        await raw.next_event()
                        try:
                            await raw.send(BytesMessage(b"\x80" * (4 * 1024 * 1024 + 1)))
                        except (anyio.BrokenResourceError, OSError):
                            pass  # the listener may hang up before it all went out
                        while True:
                            try:
                                event = await raw.next_event()
                            except EOFError:
                                closes["oversized"] = "eof"
                                return
                            if isinstance(event, CloseConnection):
                                await raw.send(event.response())
                                closes["oversized"] = event.code
                                return

            tg.start_soon(garbage)
            tg.start_soon(oversized)
        # The listener still serves a new client afterwards.
        again = Database.open(tmp_path / "again")
        await sync_once(server.replicator(again, mode=Mode.PULL))
    assert doc_map(local) == expected and set(doc_map(again)) >= set(expected)
    assert closes["garbage"] in (b"", b"HTTP/1.1 400")
    assert closes["oversized"] in (1009, "eof")


async def test_a_silent_peer_is_dropped_by_both_sides_and_the_client_reconnects(
        tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server", heartbeat=0.5)
    local = Database.open(tmp_path / "client")
    async with serving(server) as tg:
        assert server.listener is not None and server.listener.port is not None
        proxy = Proxy(server.listener.port)
        port = await tg.start(proxy.serve)
        rep = server.replicator(local, continuous=True, heartbeat=0.5,
                                url=f"ws://127.0.0.1:{port}/userdb")
        with rep.events() as status, server.listener.events() as listener_events:
            tg.start_soon(rep.run)
            await wait_activity(status, Activity.IDLE)
            proxy.freeze()
            started = anyio.current_time()
            offline = await wait_activity(status, Activity.OFFLINE)
            assert anyio.current_time() - started < 5  # a few heartbeats, not a TCP timeout
            assert "answer" in str(offline.error)  # type: ignore[union-attr]
            with anyio.fail_after(5):
                async for event in listener_events:
                    if isinstance(event, ClientDisconnected):
                        break
            server.db.save("after-the-outage", {"v": 1}, rev=None)
            await wait_for(local, lambda: local.get("after-the-outage") is not None)
        assert proxy.connections >= 2
        await rep.stop()
