"""Sync over the real websocket transport on loopback (plaintext; TLS is the transport's)."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from engine.errors import AuthError, NetworkError
from engine.store import Database
from engine.sync.channel import MessageChannel
from engine.sync.config import ReplicatorConfig, RetryPolicy
from engine.sync.listener import Listener
from engine.sync.replicator import Connect, Replicator
from engine.sync.server_session import serve_peer
from engine.sync.wsclient import connect
from engine.sync.wsserver import ServerChannel
from tests.sync.peers import doc_map, open_db, wait_for

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def listening(db: Database) -> AsyncIterator[str]:
    async def allow(user: str, password: str, host: str) -> bool:
        return password == "secret"

    async def handler(channel: ServerChannel, _db: str) -> None:
        await serve_peer(channel, db)

    listener = Listener(handler, authenticate=allow, databases={"userdb"}, host="127.0.0.1")
    async with anyio.create_task_group() as tg:
        await tg.start(listener.serve)
        yield listener.urls[0] + "userdb"
        await listener.stop()
        tg.cancel_scope.cancel()


def dialer(url: str, password: str = "secret") -> Connect:
    @asynccontextmanager
    async def dial() -> AsyncIterator[MessageChannel]:
        async with connect(url, username="kiosk", password=password) as channel:
            yield channel
    return dial


async def test_push_and_pull_with_a_blob_over_websocket(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    a.save_many([(f"a{i}", {"i": i, "text": "x" * 500}, None) for i in range(300)])
    ref = b.blobs.put(bytes(range(256)) * 8000, "image/png")  # 2 MB: two chunks
    b.save("apple", {"key": "apple", "value": 4, "image": ref}, rev=None)
    async with listening(b) as url:
        rep = Replicator(a, dialer(url), ReplicatorConfig())
        with anyio.fail_after(30):
            await rep.run()
    assert doc_map(a) == doc_map(b) and len(doc_map(a)) == 301
    assert a.blobs.read(ref["digest"]) == bytes(range(256)) * 8000


async def test_continuous_sync_over_websocket(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    async with listening(b) as url, anyio.create_task_group() as tg:
        rep = Replicator(a, dialer(url), ReplicatorConfig(continuous=True))
        tg.start_soon(rep.run)
        b.save("from-b", {"v": 1}, rev=None)
        await wait_for(a, lambda: a.get("from-b") is not None)
        a.save("from-a", {"v": 2}, rev=None)
        await wait_for(b, lambda: b.get("from-a") is not None)
        await rep.stop()
    assert doc_map(a) == doc_map(b)


async def test_wrong_password_stops_without_retry(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    async with listening(b) as url:
        rep = Replicator(a, dialer(url, "wrong"),
                         ReplicatorConfig(retry=RetryPolicy(max_attempts=5, initial_wait=5)))
        with anyio.fail_after(10), pytest.raises(AuthError):
            await rep.run()


async def test_a_peer_that_trickles_its_upgrade_answer_still_hits_the_connect_deadline() -> None:
    """httpx's timeout is per read: a peer answering one byte at a time never trips it,
    so the connector needs a deadline of its own for the whole connect."""
    async def trickle(stream: SocketStream) -> None:
        # It ends when the client hangs up (or, before the fix, when the test gives up).
        async with stream:
            await stream.receive()  # the upgrade request
            with contextlib.suppress(anyio.BrokenResourceError):
                for byte in itertools.chain(b"HTTP/1.1 101 Switching Protocols\r\n",
                                            itertools.cycle(b"X-Slow: 1\r\n")):
                    await stream.send(bytes([byte]))
                    await anyio.sleep(0.05)  # the peer's slowness, inside the read timeout

    server = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = server.extra(SocketAttribute.local_port)
    async with server, anyio.create_task_group() as tg:
        tg.start_soon(server.serve, trickle)
        with anyio.fail_after(10), pytest.raises(NetworkError, match="Timed out"):
            async with connect(f"ws://127.0.0.1:{port}/userdb", username="kiosk",
                               password="secret", connect_timeout=0.5):
                pass
        tg.cancel_scope.cancel()
