"""Direct pushes: small new revisions sent without proposing them first (feature "direct").

The first proposal of a session is the probe: only when the peer lacks most of it do
later revisions go direct; a direct frame that comes back mostly "had" turns them
off again. Either way the pusher's per-document events, counts and checkpoints are
those of proposing, and no revision crosses one connection twice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import msgpack
import pytest
from anyio.abc import TaskGroup

import engine.sync.client_push as client_push
import engine.sync.client_session as client_session
import engine.sync.server_session as server_session
from engine.errors import NetworkError, RemoteProtocolError
from engine.protocol import Connection, Error, Hello, RevisionData, Revs, Role
from engine.store import Database
from engine.sync.channel import MessageChannel
from engine.sync.config import Mode
from engine.sync.status import Direction, DocumentReplicated
from tests.sync.peers import ChannelWrapper, MemoryPeer, doc_map, open_db, replicator, sync_once

pytestmark = pytest.mark.anyio


class _Frames(ChannelWrapper):
    """A client channel end that notes each frame it sends: (kind, direct, revisions)."""

    def __init__(self, inner: MessageChannel, log: list[tuple[str, bool, int]]) -> None:
        super().__init__(inner)
        self.log = log

    async def send(self, frame: bytes) -> None:
        msg = msgpack.unpackb(frame)
        self.log.append((msg["t"], bool(msg.get("direct")), len(msg.get("revs", ()))))
        await self.inner.send(frame)


def _recorded(peer: MemoryPeer, log: list[tuple[str, bool, int]]) -> Any:
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def connect() -> Any:
        async with peer.connect() as channel:
            yield _Frames(channel, log)

    return connect


def _fill(db: Database, start: int, stop: int, prefix: str = "doc") -> None:
    db.save_many([(f"{prefix}-{i:05d}", {"n": i}, None) for i in range(start, stop)])


async def _push(a: Database, b: Database, log: list[tuple[str, bool, int]],
                **serve: Any) -> tuple[Any, list[DocumentReplicated], MemoryPeer]:
    peers: list[MemoryPeer] = []

    def connect(tg: TaskGroup) -> Any:
        peers.append(MemoryPeer(b, tg, **serve))
        return _recorded(peers[0], log)

    rep, events = await _run_push(a, connect)
    return rep, events, peers[0]


async def _run_push(a: Database, connect: Callable[[TaskGroup], Any]
                    ) -> tuple[Any, list[DocumentReplicated]]:
    """A one-shot push from `a` to the peer `connect(task group)` connects to; the
    replicator and the per-document events it reported."""
    async with anyio.create_task_group() as tg:
        rep = replicator(a, connect(tg), mode=Mode.PUSH)
        stream = rep.events(buffer=10_000)
        with anyio.fail_after(30):
            await rep.run()
        tg.cancel_scope.cancel()
    async with stream:
        events = [e async for e in stream if isinstance(e, DocumentReplicated)]
    return rep, events


def _ours(db: Database) -> dict[str, Any]:
    """doc_map of `db` without the document a test gave it so it is not empty."""
    return {k: v for k, v in doc_map(db).items() if not k.startswith("theirs")}


def _sent(log: list[tuple[str, bool, int]]) -> Counter[str]:
    """Frames by kind; direct revs frames as "direct"."""
    return Counter("direct" if direct else kind for kind, direct, _ in log)


async def test_push_goes_direct_after_the_probe(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 700)
    _fill(b, 0, 1, "theirs")  # a peer that holds something: no `empty` hint, a probe
    log: list[tuple[str, bool, int]] = []
    rep, events, peer = await _push(a, b, log)
    assert doc_map(a) == _ours(b)
    sent = _sent(log)
    assert sent["propose"] == 1 and sent["direct"] >= 1  # the probe, then no more proposals
    assert sum(n for kind, direct, n in log if direct) == 600  # after the probe's 100
    # The same per-document outcome as proposing: one event each, none failed.
    assert sorted(e.doc_id for e in events) == sorted(d.id for d in a.all_docs())
    assert all(e.direction is Direction.PUSH and e.error is None for e in events)
    assert rep.status.done == rep.status.total == 700
    assert rep.last_stats.duplicates == 0 and peer.sessions[0].duplicates == 0
    assert peer.errors == []


async def test_push_to_an_empty_peer_goes_direct_from_the_first_frame(tmp_path: Path) -> None:
    # Its hello says `empty`: it lacks whatever we offer, so no probe is proposed.
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 700)
    log: list[tuple[str, bool, int]] = []
    rep, events, peer = await _push(a, b, log)
    assert doc_map(a) == doc_map(b)
    assert _sent(log)["propose"] == 0
    assert sum(n for kind, direct, n in log if direct) == 700
    assert sorted(e.doc_id for e in events) == sorted(d.id for d in a.all_docs())
    assert rep.status.done == rep.status.total == 700
    assert rep.last_stats.duplicates == 0 and peer.errors == []


async def test_an_empty_peer_filled_meanwhile_turns_direct_pushes_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Empty at its hello, but it holds our documents by the time they come (another
    # peer was faster): the acks say "had", and the rest of the session proposes.
    monkeypatch.setattr(client_push, "FIRST_BATCH", 10)
    monkeypatch.setattr(client_push, "FEED_BATCH", 10)
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 300)
    log: list[tuple[str, bool, int]] = []
    real = Database.update_seq

    def filled_once_read(db: Database) -> int:
        seq: int = real.fget(db)  # type: ignore[attr-defined]
        if db is b and seq == 0:
            _fill(b, 0, 300)  # right after the server read it for its hello: empty
        return seq

    monkeypatch.setattr(Database, "update_seq", property(filled_once_read))
    rep, events, peer = await _push(a, b, log)
    direct = [n for kind, d, n in log if d]
    assert direct and sum(direct) <= 10 * client_push.PUSH_WINDOW
    assert _sent(log)["propose"] >= 1  # the rest was proposed (and answered "have")
    assert doc_map(a) == doc_map(b)
    assert events == [] and rep.last_stats.duplicates == 0 and peer.errors == []


async def test_push_of_what_the_peer_holds_is_never_direct(tmp_path: Path) -> None:
    # A re-sync after a lost checkpoint: the same edits, hence the same rev ids.
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 600)
    _fill(b, 0, 600)
    log: list[tuple[str, bool, int]] = []
    rep, events, _ = await _push(a, b, log)
    assert _sent(log)["direct"] == 0 and rep.last_stats.revs_sent == 0
    assert events == [] and rep.status.done == rep.status.total == 0


async def test_direct_frame_mostly_had_turns_direct_pushes_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_push, "FIRST_BATCH", 10)
    monkeypatch.setattr(client_push, "FEED_BATCH", 10)
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 10, "new")  # the probe: the peer lacks these, so direct pushes start
    _fill(a, 0, 300)
    _fill(b, 0, 300)  # ... but it holds all the rest (a mesh, a lost checkpoint)
    log: list[tuple[str, bool, int]] = []
    rep, events, peer = await _push(a, b, log)
    direct = [n for kind, d, n in log if d]
    # Frames already under way when the first answer came are spent; no more after it.
    assert 1 <= len(direct) <= client_push.PUSH_WINDOW and sum(direct) <= 40
    assert log[-1][0] == "propose"  # proposing again, for the rest of the session
    assert sorted(e.doc_id for e in events) == [f"new-{i:05d}" for i in range(10)]
    assert rep.status.done == rep.status.total == 10
    assert doc_map(a) == doc_map(b) and peer.errors == []


async def test_updates_are_proposed_so_they_can_go_as_deltas(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    body = {f"field-{i}": f"a value long enough to make a delta pay {i}" for i in range(20)}
    revs = {f"doc-{i}": a.save(f"doc-{i}", body, rev=None) for i in range(5)}
    _fill(a, 0, 200)  # the probe (docs 0..94 and these five): the peer lacks them all
    _fill(b, 0, 0)
    log: list[tuple[str, bool, int]] = []
    await _push(a, b, log)
    for doc_id, rev in revs.items():
        a.save(doc_id, {**body, "changed": True}, rev=rev)
    frames: list[dict[str, Any]] = []
    raw = _Frames.send

    async def keep(self: _Frames, frame: bytes) -> None:
        frames.append(msgpack.unpackb(frame))
        await raw(self, frame)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_Frames, "send", keep)
        await _push(a, b, [])
    sent = [r for f in frames if f["t"] == "revs" for r in f["revs"]]
    assert len(sent) == 5 and all("delta" in r for r in sent)
    assert doc_map(a) == doc_map(b)


async def test_revision_with_a_blob_is_proposed_and_its_blob_fetched(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 150)
    ref = a.blobs.put(b"a picture", "image/png")
    a.save("pictured", {"image": ref}, rev=None)
    _fill(b, 0, 1, "theirs")  # not empty: the first batch is a probe
    log: list[tuple[str, bool, int]] = []
    await _push(a, b, log)
    assert _sent(log)["direct"] >= 1 and _sent(log)["propose"] == 2
    assert b.blobs.read(ref["digest"]) == b"a picture"
    assert doc_map(a) == _ours(b)


@pytest.mark.parametrize("old", ["server", "client"])
async def test_a_peer_without_the_feature_is_sent_proposals(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str) -> None:
    module = server_session if old == "server" else client_session
    monkeypatch.setattr(module, "FEATURES", ("deltas", "blobs", "inline"))
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 300)
    log: list[tuple[str, bool, int]] = []
    rep, events, peer = await _push(a, b, log)
    assert _sent(log)["direct"] == 0 and _sent(log)["propose"] >= 2
    assert len(events) == 300 and doc_map(a) == doc_map(b) and peer.errors == []


async def _raw_client(peer: MemoryPeer, revs: tuple[RevisionData, ...],
                      answer_blobs: bool = False) -> list[Any]:
    """Handshake with "direct", send one direct frame; the server's replies until it
    acks, refuses or closes."""
    replies: list[Any] = []
    async with peer.connect() as channel:
        conn = Connection(Role.CLIENT)
        await channel.send(conn.send(Hello("raw", "db-raw", ("direct",), id=conn.new_id())))
        conn.receive(await channel.receive())
        rid = conn.new_id()
        await channel.send(conn.send(Revs(rid, rid, revs, direct=True)))
        try:
            while True:
                msg = conn.receive(await channel.receive())
                replies.append(msg)
                if msg.kind == "get_blob":  # lost on our side too
                    await channel.send(conn.send(Error("not_found", "gone", re=msg.id)))
                elif msg.kind in ("ack", "error"):
                    break
        except NetworkError:
            pass
    return replies


def _first(doc_id: str, body: dict[str, Any]) -> RevisionData:
    from engine.store import make_rev_id

    rev = "1-" + make_rev_id(None, False, body).split("-", 1)[1]
    return RevisionData(doc_id, rev, False, (rev,), body=body)


async def test_read_only_peer_refuses_a_direct_push_clearly(tmp_path: Path) -> None:
    b = open_db(tmp_path, "b")
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, read_only=True)
        replies = await _raw_client(peer, (_first("apple", {"n": 1}),))
        tg.cancel_scope.cancel()
    assert [(r.kind, r.code, r.re) for r in replies] == [("error", "read_only", 2)]
    assert "read-only" in replies[0].message and b.get("apple") is None


async def test_forged_rev_id_in_a_direct_push_closes_only_that_connection(
        tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 0, 5)
    forged = _first("apple", {"n": 1})
    forged = RevisionData("apple", forged.rev, False, forged.history, body={"n": 2})
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        replies = await _raw_client(peer, (_first("pear", {"n": 1}), forged))
        await sync_once(a, peer, mode=Mode.PUSH)  # everyone else is still served
        tg.cancel_scope.cancel()
    assert [(r.kind, r.code) for r in replies] == [("error", "protocol")]
    assert "does not match its body" in replies[0].message
    assert len(peer.errors) == 1 and isinstance(peer.errors[0], RemoteProtocolError)
    assert b.get("apple") is None and b.get("pear") is None
    assert doc_map(a) == doc_map(b)


async def test_direct_revision_whose_blob_cannot_be_had_is_acked_as_refused(
        tmp_path: Path) -> None:
    b = open_db(tmp_path, "b")
    ref = {"@type": "blob", "digest": "sha256-" + "0" * 64, "length": 3,
           "content_type": "image/png"}
    held = _first("held", {"n": 1})
    b.save("held", {"n": 1}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        replies = await _raw_client(peer, (_first("plain", {"n": 1}), held,
                                           _first("pictured", {"image": ref})))
        tg.cancel_scope.cancel()
    ack = replies[-1]
    assert ack.kind == "ack" and ack.have == (("held", held.rev),)
    assert [(d, reason) for d, _, reason in ack.refused] == [
        ("pictured", "a blob it references is not available from the peer")]
    assert b.get("plain") is not None and b.get("pictured") is None


async def test_refused_direct_revision_is_reported_and_holds_the_checkpoint(
        tmp_path: Path) -> None:
    from engine.protocol import Ack, Answer, Propose, Proposed
    from tests.sync.peers import ScriptedPeer

    a = open_db(tmp_path, "a")
    _fill(a, 0, 150)

    async def server(channel: MessageChannel) -> None:
        """Takes everything, except that it refuses one directly pushed revision."""
        conn = Connection(Role.SERVER)
        hello = conn.receive(await channel.receive())
        await channel.send(conn.send(Hello("scripted", "db-s", ("direct",), re=hello.id)))
        with pytest.raises(NetworkError):
            while True:
                msg = conn.receive(await channel.receive())
                if isinstance(msg, Propose):
                    answers = tuple(Answer("send") for _ in msg.revs)
                    await channel.send(conn.send(Proposed(msg.id, answers)))
                elif isinstance(msg, Revs) and msg.direct:
                    first = msg.revs[0]
                    await channel.send(conn.send(Ack(msg.id, refused=(
                        (first.doc_id, first.rev, "no room for it"),))))
                elif isinstance(msg, Revs):
                    await channel.send(conn.send(Ack(msg.id)))

    rep, events = await _run_push(a, lambda tg: ScriptedPeer(tg, server).connect)
    failed = [(e.doc_id, e.error) for e in events if e.error is not None]
    assert failed == [("doc-00100", "no room for it")]  # the first one after the probe
    assert len(events) == 150 and rep.status.done == rep.status.total == 149
    # Held back before the refused revision (seq 101): the next session offers it again.
    checkpoint = a.get_local(f"replication/db-s/{Direction.PUSH.value}")
    assert checkpoint is None or checkpoint["seq"] <= 100


async def test_direct_frames_sent_back_to_back_are_all_stored_and_acked(
        tmp_path: Path) -> None:
    """Frames not waiting for acks (a guard for any pipelining of the server's
    stores): a revision and its child in consecutive frames, and a revision it held,
    end as if stored in order, each frame acked with what it did not store."""
    from engine.store import make_rev_id

    b = open_db(tmp_path, "b")
    b.save("held", {"n": 1}, rev=None)
    apple = _first("apple", {"n": 1})
    child = make_rev_id(apple.rev, False, {"n": 2})
    apple2 = RevisionData("apple", child, False, (child, apple.rev), body={"n": 2})
    frames = [
        (apple, *[_first(f"doc-{i}", {"n": i}) for i in range(50)]),
        (apple2, *[_first(f"doc-{i}", {"n": i}) for i in range(50, 100)]),
        (_first("held", {"n": 1}), _first("pear", {"n": 1})),
    ]
    acks: dict[int, Any] = {}
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        async with peer.connect() as channel:
            conn = Connection(Role.CLIENT)
            await channel.send(conn.send(Hello("raw", "db-raw", ("direct",), id=conn.new_id())))
            conn.receive(await channel.receive())
            for revs in frames:  # none waits for an ack
                rid = conn.new_id()
                await channel.send(conn.send(Revs(rid, rid, revs, direct=True)))
            with anyio.fail_after(30):
                while len(acks) < len(frames):
                    msg = conn.receive(await channel.receive())
                    assert msg.kind == "ack"
                    acks[msg.re] = msg
        tg.cancel_scope.cancel()
    assert [(a.have, a.refused) for _, a in sorted(acks.items())] == [
        ((), ()), ((), ()), ((("held", frames[2][0].rev),), ())]
    doc = b.get("apple")
    assert doc is not None and doc.rev == child and doc.body == {"n": 2}
    assert len(b.all_docs()) == 103 and peer.errors == []
