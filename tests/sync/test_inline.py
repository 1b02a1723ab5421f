"""Live edits carried inline in the changes frame (the `inline` feature), and its fallbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.errors import NetworkError, ProtocolError
from engine.protocol import (
    Ack,
    CaughtUp,
    Change,
    Changes,
    Connection,
    Error,
    Hello,
    Message,
    Missing,
    RevisionData,
    Revs,
    Role,
    Subscribe,
    Want,
    make_rev_id,
)
from engine.store import Database
from engine.sync.channel import MessageChannel
from engine.sync.checkpoints import checkpoint_id
from engine.sync.config import Mode, ReplicatorConfig, RetryPolicy
from engine.sync.inline import INLINE_BODY_MAX, InlineSender
from engine.sync.link import SessionStats
from engine.sync.listener import Listener
from engine.sync.replicator import Replicator
from engine.sync.server_session import serve_peer
from engine.sync.status import Activity, Direction, DocumentReplicated, ReplicatorStatus
from engine.sync.wsclient import connect
from engine.sync.wsserver import ServerChannel
from tests.sync.peers import MemoryPeer, ScriptedPeer, open_db, replicator, wait_for

pytestmark = pytest.mark.anyio
FAST_RETRY = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)


async def _live_edit(a: Database, peer: MemoryPeer, edit: Callable[[], str],
                     **config: Any) -> tuple[Replicator, list[Any], str, int]:
    """Sync `a` from `peer` continuously; once `a` has the peer's "apple", make one live
    edit there and wait until `a` has it and is idle again with 2 revisions pulled.
    Returns the replicator, its events, the edit's rev and the frames the peer sent
    for it."""
    rep = replicator(a, peer, continuous=True, **config)
    events = rep.events()
    async with anyio.create_task_group() as tg:
        tg.start_soon(rep.run)
        await wait_for(a, lambda: a.get("apple") is not None)
        async with rep.events() as watch:
            before = peer.sessions[0].frames_sent
            rev = edit()
            with anyio.fail_after(10):
                async for event in watch:
                    if (isinstance(event, ReplicatorStatus) and event.activity is Activity.IDLE
                            and event.done == 2):
                        break
        frames = peer.sessions[0].frames_sent - before
        await rep.stop()
    async with events:
        seen = [event async for event in events]
    return rep, seen, rev, frames


async def test_live_edit_arrives_inline_and_is_stored_once(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    first = b.save("apple", {"value": 1}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep, seen, rev, frames = await _live_edit(
            a, peer, lambda: b.save("apple", {"value": 2}, rev=first))
        tg.cancel_scope.cancel()
    assert frames == 2  # changes (with the body) and caught_up; no revs frame
    assert peer.sessions[0].sent_keys == {("apple", first): 1, ("apple", rev): 1}
    doc = a.get("apple")
    assert doc is not None and doc.rev == rev and a.update_seq == 2
    pulled = [(e.doc_id, e.rev) for e in seen
              if isinstance(e, DocumentReplicated) and e.direction is Direction.PULL]
    assert pulled == [("apple", first), ("apple", rev)]
    idle = [e for e in seen if isinstance(e, ReplicatorStatus) and e.activity is Activity.IDLE]
    assert idle[-1].done == idle[-1].total == 2
    # The checkpoint covers the inline revision (written at the latest when the run ends).
    assert a.get_local(checkpoint_id(b.uuid, Direction.PULL)) == {"seq": b.update_seq}
    assert rep.last_stats is not None and rep.last_stats.duplicates == 0
    assert peer.errors == []


async def test_large_live_edit_takes_the_usual_path(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    first = b.save("apple", {"value": 1}, rev=None)
    big = {"value": 2, "notes": "x" * (INLINE_BODY_MAX + 1)}
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        _, _, rev, frames = await _live_edit(a, peer, lambda: b.save("apple", big, rev=first))
        tg.cancel_scope.cancel()
    assert frames == 3  # changes, caught_up, then the revs frame it asked for
    assert peer.sessions[0].sent_keys[("apple", rev)] == 1
    doc = a.get("apple")
    assert doc is not None and doc.body == big


async def test_live_edit_refused_by_the_pull_filter_is_reported_not_fetched(
        tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    b.save("apple", {"kind": "fruit"}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer, continuous=True,
                         pull_filter=lambda _d, _x, body: body.get("kind") == "fruit")
        events = rep.events()
        tg.start_soon(rep.run)
        await wait_for(a, lambda: a.get("apple") is not None)
        hammer = b.save("hammer", {"kind": "tool"}, rev=None)
        b.save("pear", {"kind": "fruit"}, rev=None)  # a later change: hammer's came first
        await wait_for(a, lambda: a.get("pear") is not None)
        await rep.stop()
        tg.cancel_scope.cancel()
    async with events:
        docs = {e.doc_id: e.error async for e in events if isinstance(e, DocumentReplicated)}
    assert docs["hammer"] == "rejected by the filter" and a.get("hammer") is None
    assert peer.sessions[0].sent_keys[("hammer", hammer)] == 1  # inline only, not asked for


async def test_client_without_the_feature_is_sent_no_bodies_in_changes(tmp_path: Path) -> None:
    b = open_db(tmp_path, "b")
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        async with peer.connect() as channel:
            conn = Connection(Role.CLIENT)

            async def say(msg: Message) -> None:
                await channel.send(conn.send(msg))

            async def hear() -> Message:
                return conn.receive(await channel.receive())

            await say(Hello("old-peer", "db-old", ("deltas", "blobs"), id=conn.new_id()))
            await hear()
            await say(Subscribe(conn.new_id(), 0, continuous=True))
            assert isinstance(await hear(), CaughtUp)
            rev = b.save("apple", {"value": 1}, rev=None)
            changes = await hear()
            assert isinstance(changes, Changes) and changes.inline == ()
            assert [c.rev for c in changes.changes] == [rev]
            await say(Missing(changes.id, (Want("apple", (rev,)),)))
            revs = await hear()
            if isinstance(revs, CaughtUp):  # the drain's end may come first
                revs = await hear()
            assert isinstance(revs, Revs) and revs.revs[0].body == {"value": 1}
        tg.cancel_scope.cancel()
    assert peer.errors == []


async def test_inline_history_stops_at_what_the_client_is_known_to_hold(
        tmp_path: Path) -> None:
    b = open_db(tmp_path, "b")
    revs = [b.save("apple", {"v": 1}, rev=None)]
    for v in (2, 3):
        revs.append(b.save("apple", {"v": v}, rev=revs[-1]))
    sender = InlineSender(b, enabled=True)

    async def frame() -> tuple[RevisionData, ...]:
        doc = b.get("apple")
        assert doc is not None
        return await sender.for_frame((Change(b.update_seq, "apple", doc.rev, False),))

    first = await frame()
    assert first[0].history == tuple(reversed(revs))  # nothing known yet: all of it
    assert await frame() == ()  # never the same revision twice
    sender.note_sent(1, first)
    sender.note_missing(Missing(1))  # not asked for: the client stored it
    revs.append(b.save("apple", {"v": 4}, rev=revs[-1]))
    second = await frame()
    assert second[0].history == (revs[3], revs[2])


# -- a scripted server: what our own server never sends ---------------------------------

@asynccontextmanager
async def _scripted(send: list[Message], received: list[Message], acked: anyio.Event
                    ) -> AsyncIterator[Callable[[MessageChannel], Any]]:
    """A server that answers the handshake and subscription, sends `send` (changes
    frames, and revs once asked), and records what the client says until it goes away
    (`acked` is set when the client acknowledges a revs frame)."""
    async def script(channel: MessageChannel) -> None:
        conn = Connection(Role.SERVER)
        hello = conn.receive(await channel.receive())
        assert isinstance(hello, Hello) and hello.id is not None
        await channel.send(conn.send(Hello("scripted", "db-s", ("blobs", "inline"),
                                           re=hello.id)))
        sub = conn.receive(await channel.receive())
        assert isinstance(sub, Subscribe)
        await channel.send(conn.send(CaughtUp(sub.id, 0)))
        for msg in send:
            if isinstance(msg, Revs):  # only once the client asked for it
                received.append(conn.receive(await channel.receive()))
            await channel.send(conn.send(msg))
        try:
            while True:
                received.append(conn.receive(await channel.receive()))
                if isinstance(received[-1], Ack):
                    acked.set()
        except (NetworkError, ProtocolError):
            pass

    yield script


def _changes(changes_id: int, doc: str, rev: str, *inline: RevisionData) -> Changes:
    return Changes(changes_id, 2, (Change(7, doc, rev, False),), 7, inline)


async def test_forged_inline_revision_is_refused_and_the_connection_closed(
        tmp_path: Path) -> None:
    a = open_db(tmp_path, "a")
    forged = "1-" + "f" * 32
    received: list[Message] = []
    acked = anyio.Event()
    msgs: list[Message] = [_changes(1, "apple", forged, RevisionData(
        "apple", forged, False, (forged,), body={"forged": True}))]
    async with _scripted(msgs, received, acked) as script, anyio.create_task_group() as tg:
        rep = replicator(a, ScriptedPeer(tg, script).connect, mode=Mode.PULL,
                         continuous=True, retry=FAST_RETRY)
        with pytest.raises(ProtocolError, match="does not match its body"):
            await rep.run()
    assert a.get("apple") is None
    assert any(isinstance(m, Error) and m.code == "protocol" for m in received)
    assert not any(isinstance(m, Missing) for m in received)


async def test_inline_revision_without_its_parent_here_is_asked_for_as_usual(
        tmp_path: Path) -> None:
    a = open_db(tmp_path, "a")
    r1 = a.save("apple", {"v": 1}, rev=None)
    r2 = make_rev_id(r1, False, {"v": 2})  # a never saw this one
    r3 = make_rev_id(r2, False, {"v": 3})
    received: list[Message] = []
    acked = anyio.Event()
    msgs: list[Message] = [
        _changes(1, "apple", r3, RevisionData("apple", r3, False, (r3, r2), body={"v": 3})),
        Revs(2, 1, (RevisionData("apple", r3, False, (r3, r2, r1), body={"v": 3}),))]
    async with _scripted(msgs, received, acked) as script, anyio.create_task_group() as tg:
        rep = replicator(a, ScriptedPeer(tg, script).connect, mode=Mode.PULL,
                         continuous=True, retry=FAST_RETRY)
        tg.start_soon(rep.run)
        with anyio.fail_after(10):
            await acked.wait()  # the ack goes out once the frame is stored
        await rep.stop()
    missing = [m for m in received if isinstance(m, Missing)]
    assert [(w.doc_id, w.revs) for w in missing[0].docs] == [("apple", (r3,))]
    assert a.leaves("apple") == [r3] and a.update_seq == 2  # one tree: r1 <- r2 <- r3


async def test_inline_revision_whose_history_reaches_one_here_is_stored_at_once(
        tmp_path: Path) -> None:
    a = open_db(tmp_path, "a")
    r1 = a.save("apple", {"v": 1}, rev=None)
    r2 = make_rev_id(r1, False, {"v": 2})  # a never saw this one either
    r3 = make_rev_id(r2, False, {"v": 3})
    received: list[Message] = []
    msgs: list[Message] = [_changes(1, "apple", r3, RevisionData(
        "apple", r3, False, (r3, r2, r1), body={"v": 3}))]
    async with _scripted(msgs, received, anyio.Event()) as script, \
            anyio.create_task_group() as tg:
        rep = replicator(a, ScriptedPeer(tg, script).connect, mode=Mode.PULL,
                         continuous=True, retry=FAST_RETRY)
        tg.start_soon(rep.run)
        await wait_for(a, lambda: (d := a.get("apple")) is not None and d.rev == r3)
        await rep.stop()
    assert a.leaves("apple") == [r3] and a.update_seq == 2
    assert all(m.docs == () for m in received if isinstance(m, Missing))


async def test_inline_revision_needing_an_absent_blob_is_asked_for_as_usual(
        tmp_path: Path) -> None:
    a = open_db(tmp_path, "a")
    ref = {"@type": "blob", "digest": "sha256-" + "0" * 64, "length": 3,
           "content_type": "image/png"}
    body = {"image": ref}
    rev = make_rev_id(None, False, body)
    received: list[Message] = []
    acked = anyio.Event()
    msgs: list[Message] = [
        _changes(1, "apple", rev, RevisionData("apple", rev, False, (rev,), body=body)),
        Revs(2, 1, (), gone=(("apple", rev),))]  # then say it is gone: no blob to fetch
    async with _scripted(msgs, received, acked) as script, anyio.create_task_group() as tg:
        rep = replicator(a, ScriptedPeer(tg, script).connect, mode=Mode.PULL,
                         continuous=True, retry=FAST_RETRY)
        tg.start_soon(rep.run)
        with anyio.fail_after(10):
            await acked.wait()
        await rep.stop()
    missing = [m for m in received if isinstance(m, Missing)]
    assert [(w.doc_id, w.revs) for w in missing[0].docs] == [("apple", (rev,))]
    assert a.get("apple") is None


# -- the real transport -----------------------------------------------------------------

async def test_live_edit_arrives_inline_over_websocket(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    first = b.save("apple", {"value": 1}, rev=None)
    stats: list[SessionStats] = []

    async def allow(user: str, password: str, host: str) -> bool:
        return password == "secret"

    async def handler(channel: ServerChannel, _db: str) -> None:
        stats.append(SessionStats(track_keys=True))
        await serve_peer(channel, b, stats=stats[-1])

    listener = Listener(handler, authenticate=allow, databases={"userdb"}, host="127.0.0.1")

    @asynccontextmanager
    async def dial() -> AsyncIterator[MessageChannel]:
        async with connect(listener.urls[0] + "userdb", username="kiosk",
                           password="secret") as channel:
            yield channel

    async with anyio.create_task_group() as tg:
        await tg.start(listener.serve)
        rep = Replicator(a, dial, ReplicatorConfig(continuous=True))
        tg.start_soon(rep.run)
        await wait_for(a, lambda: a.get("apple") is not None)
        rev = b.save("apple", {"value": 2}, rev=first)
        await wait_for(a, lambda: (d := a.get("apple")) is not None and d.rev == rev)
        await rep.stop()
        await listener.stop()
        tg.cancel_scope.cancel()
    # The edit went once, inline: the first revision and it are all the server sent.
    assert stats[0].sent_keys == {("apple", first): 1, ("apple", rev): 1}
