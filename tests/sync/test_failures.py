"""Refusals stop at once; transient failures are retried; a bad peer ends one session."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from engine.errors import (
    AuthError,
    NetworkError,
    ProtocolError,
    ReadOnlyError,
    RemoteProtocolError,
    TLSValidationError,
)
from engine.protocol import Connection, Error, Hello, Role, decode, encode, parse
from engine.sync.channel import MessageChannel
from engine.sync.config import Mode, RetryPolicy
from engine.sync.status import Activity, ReplicatorStatus
from tests.sync.peers import (
    MemoryPeer,
    ScriptedPeer,
    doc_map,
    open_db,
    replicator,
    sync_once,
    wait_status,
)

pytestmark = pytest.mark.anyio
FAST_RETRY = RetryPolicy(max_attempts=3, initial_wait=0.001, max_wait=0.01)


async def test_read_only_peer_refuses_a_push_clearly(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    a.save("mine", {"v": 1}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, read_only=True)
        rep = replicator(a, peer, mode=Mode.PUSH)
        with pytest.raises(ReadOnlyError, match="read-only"):
            await rep.run()
        tg.cancel_scope.cancel()
    assert b.get("mine") is None
    assert rep.status.activity is Activity.STOPPED
    assert isinstance(rep.status.error, ReadOnlyError)


async def test_read_only_peer_still_serves_pulls(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    b.save("theirs", {"v": 1}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, read_only=True)
        await sync_once(a, peer, mode=Mode.PULL)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)


async def test_malformed_frame_closes_only_that_session(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    b.save("theirs", {"v": 1}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        async with peer.connect() as bad:
            conn = Connection(Role.CLIENT)
            await bad.send(conn.send(Hello("evil", "db-evil", id=conn.new_id())))
            conn.receive(await bad.receive())
            await bad.send(b"\x81\xa1t\xc1")  # 0xc1 is never valid msgpack
            reply = parse(decode(await bad.receive()))
            with pytest.raises(NetworkError):
                await bad.receive()
        await sync_once(a, peer)  # the server still serves everyone else
        tg.cancel_scope.cancel()
    assert getattr(reply, "code", None) == "protocol"
    assert len(peer.errors) == 1 and isinstance(peer.errors[0], RemoteProtocolError)
    assert "not valid msgpack" in str(peer.errors[0])
    assert doc_map(a) == doc_map(b)


async def test_client_reports_a_server_that_breaks_the_protocol(tmp_path: Path) -> None:
    replies: list[bytes] = []

    async def garbage_server(channel: MessageChannel) -> None:
        await channel.receive()
        await channel.send(encode({"t": "teleport"}))
        with pytest.raises(NetworkError):
            while True:
                replies.append(await channel.receive())

    async with anyio.create_task_group() as tg:
        rep = replicator(open_db(tmp_path, "a"), ScriptedPeer(tg, garbage_server).connect,
                         retry=FAST_RETRY)
        with pytest.raises(ProtocolError, match="unknown kind"):
            await rep.run()
    assert [getattr(parse(decode(r)), "code", None) for r in replies] == ["protocol"]


@pytest.mark.parametrize("error", [AuthError("The peer refused the password."),
                                   TLSValidationError("The certificate is not the pinned one.")])
async def test_refusals_stop_at_once_without_retry(tmp_path: Path, error: Exception) -> None:
    attempts = 0

    @asynccontextmanager
    async def connect() -> AsyncIterator[MessageChannel]:
        nonlocal attempts
        attempts += 1
        raise error
        yield  # pragma: no cover

    rep = replicator(open_db(tmp_path, "a"), connect, retry=FAST_RETRY)
    with pytest.raises(type(error)):
        await rep.run()
    assert attempts == 1 and rep.status.error is error


async def test_transient_failures_are_retried_with_backoff(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    b.save("theirs", {"v": 1}, rev=None)
    attempts = 0
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)

        @asynccontextmanager
        async def flaky() -> AsyncIterator[MessageChannel]:
            nonlocal attempts
            attempts += 1
            if attempts < 3:
                raise NetworkError("Connection refused.")
            async with peer.connect() as channel:
                yield channel

        rep = replicator(a, flaky, retry=FAST_RETRY)
        events = rep.events()
        await rep.run()
        tg.cancel_scope.cancel()
    async with events:
        seen = [e.activity async for e in events if isinstance(e, ReplicatorStatus)]
    assert attempts == 3 and a.get("theirs") is not None
    assert seen.count(Activity.OFFLINE) == 2 and seen[-1] is Activity.STOPPED


async def test_retries_give_up_after_max_attempts(tmp_path: Path) -> None:
    attempts = 0

    @asynccontextmanager
    async def down() -> AsyncIterator[MessageChannel]:
        nonlocal attempts
        attempts += 1
        raise OSError("No route to host")
        yield  # pragma: no cover

    rep = replicator(open_db(tmp_path, "a"), down, retry=FAST_RETRY)
    with pytest.raises(NetworkError, match="No route to host"):
        await rep.run()
    assert attempts == 3


async def test_silent_peer_is_detected_by_heartbeat(tmp_path: Path) -> None:
    async def answer_hello_then_hang(channel: MessageChannel) -> None:
        conn = Connection(Role.SERVER)
        hello = conn.receive(await channel.receive())
        assert isinstance(hello, Hello) and hello.id is not None
        await channel.send(conn.send(Hello("mute", "db-mute", re=hello.id)))
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        rep = replicator(open_db(tmp_path, "a"), ScriptedPeer(tg, answer_hello_then_hang).connect,
                         heartbeat=0.02, retry=RetryPolicy(max_attempts=1))
        with anyio.fail_after(5), pytest.raises(NetworkError, match="has not answered"):
            await rep.run()
        tg.cancel_scope.cancel()


async def test_stop_ends_a_continuous_run(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer, continuous=True)
        tg.start_soon(rep.run)
        await wait_status(rep, Activity.IDLE)
        await rep.stop()
        await wait_status(rep, Activity.STOPPED)
        tg.cancel_scope.cancel()
    assert rep.status.error is None


async def test_server_speaking_another_major_version_is_refused_clearly(tmp_path: Path) -> None:
    async def future_server(channel: MessageChannel) -> None:
        hello = decode(await channel.receive())
        await channel.send(encode({"t": "hello", "re": hello["id"], "version": [2, 0],
                                   "peer_id": "future", "db_uuid": "db-future"}))
        with pytest.raises(NetworkError):
            while True:
                await channel.receive()

    async with anyio.create_task_group() as tg:
        rep = replicator(open_db(tmp_path, "a"), ScriptedPeer(tg, future_server).connect,
                         retry=FAST_RETRY)
        with pytest.raises(ProtocolError, match="version 2.0; this program speaks 1.0"):
            await rep.run()


async def test_client_speaking_another_major_version_gets_a_version_error(
        tmp_path: Path) -> None:
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(open_db(tmp_path, "b"), tg)
        async with peer.connect() as channel:
            await channel.send(encode({"t": "hello", "id": 1, "version": [9, 1],
                                       "peer_id": "old", "db_uuid": "db-old"}))
            reply = parse(decode(await channel.receive()))
        tg.cancel_scope.cancel()
    assert isinstance(reply, Error) and reply.code == "version" and reply.fatal
    assert "9.1" in reply.message


@pytest.mark.parametrize(("code", "error", "attempts"), [
    ("internal", ProtocolError, 1),  # a refusal: no retry
    ("unavailable", NetworkError, 3),  # the peer is shutting down: try again later
])
async def test_refused_handshake_is_reported(tmp_path: Path, code: str,
                                             error: type[Exception], attempts: int) -> None:
    tries = 0

    async def refusing_server(channel: MessageChannel) -> None:
        nonlocal tries
        tries += 1
        await channel.receive()
        await channel.send(encode({"t": "error", "code": code, "message": "Shutting down."}))

    async with anyio.create_task_group() as tg:
        rep = replicator(open_db(tmp_path, "a"), ScriptedPeer(tg, refusing_server).connect,
                         retry=FAST_RETRY)
        with pytest.raises(error, match="Shutting down"):
            await rep.run()
    assert tries == attempts


class _CutAfter:
    """A channel end that loses its connection after `frames` sent (or received) frames."""

    def __init__(self, inner: MessageChannel, frames: int, count_sent: bool) -> None:
        self.inner, self.left, self.count_sent = inner, frames, count_sent
        self.peer_address, self.user = inner.peer_address, inner.user

    async def _tick(self, sending: bool) -> None:
        if self.left <= 0:
            await self.inner.close(1006, "cut")
            raise NetworkError("The connection was cut.")
        if sending == self.count_sent:
            self.left -= 1

    async def send(self, frame: bytes) -> None:
        await self._tick(True)
        await self.inner.send(frame)

    async def receive(self) -> bytes:
        await self._tick(False)
        return await self.inner.receive()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.close(code, reason)


@pytest.mark.parametrize("mode", [Mode.PULL, Mode.PUSH])
async def test_cut_connection_resumes_and_converges(tmp_path: Path, mode: Mode) -> None:
    from engine.protocol import Limits

    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    source = b if mode is Mode.PULL else a
    source.save_many([(f"d{i:04d}", {"text": "x" * 900}, None) for i in range(600)])
    small = Limits(max_frame=64 * 1024)
    # The first two connections die part-way, after acks for some frames went by:
    # pull counts our frames (hello, subscribe, missing, acks), push the peer's.
    cuts = [7, 6]

    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, limits=small, max_frame=small.max_frame)

        @asynccontextmanager
        async def flaky() -> AsyncIterator[MessageChannel]:
            async with peer.connect() as channel:
                yield _CutAfter(channel, cuts.pop(0), mode is Mode.PULL) if cuts else channel

        rep = replicator(a, flaky, mode=mode, limits=small, retry=FAST_RETRY)
        await rep.run()
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b) and len(doc_map(a)) == 600
    assert not cuts and peer.errors == []
    assert all(s.duplicates == 0 for s in peer.sessions)
    last = rep.last_stats
    assert last is not None and 0 < last.revs_sent + last.revs_received < 600  # resumed


async def test_revision_whose_body_does_not_match_its_id_is_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import engine.sync.transfer as transfer
    from engine.protocol import RevisionData

    real = transfer.load_revisions

    def tampered(*args: object) -> tuple[list[RevisionData], list[tuple[str, str]]]:
        revs, gone = real(*args)  # type: ignore[arg-type]
        return [RevisionData(r.doc_id, r.rev, r.deleted, r.history, body={"forged": True})
                for r in revs], gone

    monkeypatch.setattr(transfer, "load_revisions", tampered)
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    a.save("pear", {}, rev=None)  # not a fresh client: apple comes in a revs frame
    b.save("apple", {"value": 1}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer, mode=Mode.PULL, retry=FAST_RETRY)
        with pytest.raises(ProtocolError, match="does not match its body"):
            await rep.run()
        tg.cancel_scope.cancel()
    assert a.get("apple") is None
