"""Bulk pulls with bodies in the changes frames (`inline_bulk`), and when the server
stops sending them (the client already holds most of what it is offered)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.errors import NetworkError, ProtocolError
from engine.protocol import (
    CaughtUp,
    Change,
    Changes,
    Connection,
    Error,
    Hello,
    Limits,
    Message,
    Missing,
    RevisionData,
    Role,
    Subscribe,
    Want,
    decode,
)
from engine.protocol.inline import MAX_INLINE_FRAME
from engine.store import Database
from engine.sync.channel import MessageChannel
from engine.sync.checkpoints import checkpoint_id
from engine.sync.config import Mode, RetryPolicy
from engine.sync.inline import InlineSender
from engine.sync.replicator import Replicator
from engine.sync.server_session import FEED_BATCH, FEED_WINDOW
from engine.sync.status import Direction, DocumentReplicated
from tests.sync.peers import ChannelWrapper, MemoryPeer, ScriptedPeer, open_db, replicator

pytestmark = pytest.mark.anyio
FAST_RETRY = RetryPolicy(max_attempts=2, initial_wait=0.001, max_wait=0.01)


class _Tap(ChannelWrapper):
    """A client's channel end that notes what the server's frames carried."""

    def __init__(self, inner: MessageChannel) -> None:
        super().__init__(inner)
        self.inline = 0  # revisions carried in changes frames
        self.in_revs = 0  # revisions carried in revs frames
        self.changes_sizes: list[int] = []  # bytes of each changes frame that carried revs
        self.per_frame: list[int] = []  # revisions carried by each changes frame

    async def receive(self) -> bytes:
        frame = await self.inner.receive()
        wire = decode(frame)
        if wire["t"] == "changes":
            self.per_frame.append(len(wire.get("revs", ())))
        if wire["t"] == "changes" and "revs" in wire:
            self.inline += len(wire["revs"])
            self.changes_sizes.append(len(frame))
        elif wire["t"] == "revs":
            self.in_revs += len(wire["revs"])
        return frame


async def _pull(a: Database, b: Database, **config: Any
                ) -> tuple[Replicator, MemoryPeer, _Tap, list[Any]]:
    """One-shot pull from `b` into `a` through a tapped memory channel; returns the
    replicator, the peer, the tap and the replicator's events."""
    serve: dict[str, Any] = {}
    if "limits" in config:
        serve = {"limits": config["limits"], "max_frame": config["limits"].max_frame}
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, **serve)
        taps: list[_Tap] = []

        @asynccontextmanager
        async def dial() -> AsyncIterator[MessageChannel]:
            async with peer.connect() as channel:
                taps.append(_Tap(channel))
                yield taps[-1]

        rep = replicator(a, dial, mode=Mode.PULL, **config)
        events = rep.events(buffer=100_000)  # a frame's events come in one burst
        seen: list[Any] = []

        async def collect() -> None:
            async with events:
                seen.extend([event async for event in events])

        with anyio.fail_after(60):
            async with anyio.create_task_group() as inner:
                inner.start_soon(collect)
                await rep.run()
        tg.cancel_scope.cancel()
    assert peer.errors == [] and len(taps) == 1
    return rep, peer, taps[0], seen


def _fill(db: Database, ids: range, text: str = "x" * 200) -> None:
    for start in range(ids.start, ids.stop, 1000):
        db.save_many([(f"doc-{i:05d}", {"n": i, "text": text}, None)
                      for i in range(start, min(start + 1000, ids.stop))])


def _sent_once(peer: MemoryPeer) -> dict[tuple[str, str], int]:
    keys = peer.sessions[0].sent_keys
    assert peer.sessions[0].duplicates == 0
    return keys


async def test_a_fresh_client_gets_bodies_from_the_first_frame_and_others_a_probe(
        tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(b, range(500))
    _, peer, tap, _ = await _pull(a, b)  # `a` never held a document: it says "fresh"
    assert tap.per_frame[0] > 0 and tap.in_revs == 0 and tap.inline == 500
    assert len(_sent_once(peer)) == 500
    c = open_db(tmp_path, "c")
    c.save("mine", {}, rev=None)
    c.purge("mine")  # it held a document once: not fresh, so the first frame is a probe
    _, peer, tap, _ = await _pull(c, b)
    assert tap.per_frame[0] == 0 and tap.in_revs > 0 and tap.inline > 0
    assert tap.inline + tap.in_revs == 500 and len(_sent_once(peer)) == 500


async def test_bulk_pull_carries_most_bodies_in_the_changes_frames(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    n = 3000
    _fill(b, range(n))
    rep, peer, tap, seen = await _pull(a, b)
    assert len(a.all_docs()) == n and len(_sent_once(peer)) == n
    # The first frame goes without bodies (what does the client lack?); then they ride along.
    assert tap.inline + tap.in_revs == n and tap.inline >= n - FEED_BATCH
    assert all(size <= 2 * 1024 * 1024 for size in tap.changes_sizes)
    assert max(tap.changes_sizes) > MAX_INLINE_FRAME  # beyond the live cap
    assert rep.status.done == rep.status.total == n
    pulled = {e.doc_id for e in seen
              if isinstance(e, DocumentReplicated) and e.direction is Direction.PULL}
    assert len(pulled) == n  # an event per document, however it came
    assert a.get_local(checkpoint_id(b.uuid, Direction.PULL)) == {"seq": b.update_seq}


async def test_client_holding_the_first_part_is_sent_only_what_it_lacks(
        tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    n, held = 6000, 1500
    _fill(b, range(n))
    _fill(a, range(held))  # the same edits: the same rev ids (say, a third peer's doing)
    before = a.update_seq
    _, peer, tap, _ = await _pull(a, b)
    sent = _sent_once(peer)
    # No body it held was sent: plain frames showed it held them; once a plain frame
    # showed it lacking most, the bodies rode along again (from the frames sent after
    # that answer: a window later).
    assert sorted(doc for doc, _ in sent) == [f"doc-{i:05d}" for i in range(held, n)]
    assert tap.inline > 0 and tap.inline + tap.in_revs == n - held
    assert a.update_seq == before + n - held and len(a.all_docs()) == n


async def test_client_that_turns_out_to_hold_the_rest_stops_the_bodies(
        tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    lacked, n = 1500, 9500
    _fill(b, range(n))
    _fill(a, range(lacked, n))  # it lacks only the first 1500 of b's feed
    before = a.update_seq
    _, peer, tap, _ = await _pull(a, b)
    sent = _sent_once(peer)
    assert tap.inline >= lacked - FEED_BATCH  # bodies rode along while it lacked them
    # Once an answer said it already held most of a frame's bodies, no more were sent:
    # at most the frames already on their way (the window) went to waste.
    wasted = len(sent) - lacked
    assert wasted <= FEED_WINDOW * FEED_BATCH and len(sent) < n - 3000
    assert a.update_seq == before + lacked and len(a.all_docs()) == n


async def test_bulk_frames_stay_within_half_the_frame_limit(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(b, range(400), text="y" * 10_000)  # 40 such bodies would fill a 400 KiB frame
    limits = Limits(max_frame=256 * 1024)
    _, peer, tap, _ = await _pull(a, b, limits=limits)
    assert len(_sent_once(peer)) == 400 and len(a.all_docs()) == 400
    assert tap.inline >= 300  # all but the probe frame's, in frames cut to fit
    assert max(tap.changes_sizes) <= limits.max_frame // 2


async def test_client_without_bulk_inline_is_sent_bulk_frames_without_bodies(
        tmp_path: Path) -> None:
    b = open_db(tmp_path, "b")
    _fill(b, range(600))
    frames: list[Message] = []
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        async with peer.connect() as channel:
            conn = Connection(Role.CLIENT)

            async def say(msg: Message) -> None:
                await channel.send(conn.send(msg))

            # A client of the live-only `inline` feature: bulk frames come as before.
            await say(Hello("older-peer", "db-old", ("deltas", "blobs", "inline"),
                            id=conn.new_id()))
            conn.receive(await channel.receive())
            await say(Subscribe(conn.new_id(), 0, continuous=False))
            while not frames or not isinstance(frames[-1], CaughtUp):
                frames.append(conn.receive(await channel.receive()))
                if isinstance(frames[-1], Changes):
                    await say(Missing(frames[-1].id))  # (it says it holds them all)
        tg.cancel_scope.cancel()
    changes = [f for f in frames if isinstance(f, Changes)]
    assert sum(len(c.changes) for c in changes) == 600
    assert all(c.inline == () for c in changes)
    assert peer.errors == [] and peer.sessions[0].revs_sent == 0


async def test_forged_revision_in_a_bulk_frame_is_refused_and_the_connection_closed(
        tmp_path: Path) -> None:
    a = open_db(tmp_path, "a")
    b = open_db(tmp_path, "b")
    _fill(b, range(300), text="z" * 400)
    docs = {d.id: d for d in b.all_docs()}
    good = [(d.id, d.rev) for d in docs.values()]
    forged = "1-" + "f" * 32
    keys = [*good[:150], ("doc-forged", forged), *good[150:]]
    received: list[Message] = []

    async def script(channel: MessageChannel) -> None:
        conn = Connection(Role.SERVER)
        hello = conn.receive(await channel.receive())
        assert isinstance(hello, Hello) and hello.id is not None
        assert "inline_bulk" in hello.features
        await channel.send(conn.send(Hello("scripted", "db-s", ("blobs", "inline"),
                                           re=hello.id)))
        sub = conn.receive(await channel.receive())
        assert isinstance(sub, Subscribe)
        inline = [RevisionData(doc, rev, False, (rev,), body=docs[doc].body if doc in docs
                               else {"forged": True}) for doc, rev in keys]
        entries = tuple(Change(i + 1, doc, rev, False) for i, (doc, rev) in enumerate(keys))
        frame = conn.send(Changes(conn.new_id(), sub.id, entries, len(entries), tuple(inline)))
        assert len(frame) > MAX_INLINE_FRAME  # a bulk frame, beyond the live cap
        await channel.send(frame)
        try:
            while True:
                received.append(conn.receive(await channel.receive()))
        except (NetworkError, ProtocolError):
            pass

    async with anyio.create_task_group() as tg:
        rep = replicator(a, ScriptedPeer(tg, script).connect, mode=Mode.PULL,
                         retry=FAST_RETRY)
        with pytest.raises(ProtocolError, match="does not match its body"):
            await rep.run()
    assert a.get("doc-forged") is None
    assert any(isinstance(m, Error) and m.code == "protocol" for m in received)
    assert not any(isinstance(m, Missing) for m in received)


async def test_server_inlines_only_while_the_answers_show_the_client_lacks_them(
        tmp_path: Path) -> None:
    b = open_db(tmp_path, "b")
    _fill(b, range(40))
    feed = [Change(c.seq, c.doc_id, c.rev, c.deleted) for c in b.changes()]
    sender = InlineSender(b, enabled=True, bulk=True)
    frames = iter(range(1, 100))

    async def offer(part: list[Change], answer: int, had: int = 0) -> int:
        """Offer a frame of `part`; the client asks for `answer` of its revisions and
        says it held `had` of its inline ones. Returns how many went inline."""
        entries = tuple(part)
        inline, cut = await sender.for_bulk(entries)
        assert cut == len(entries)
        changes_id = next(frames)
        sender.note_offered(changes_id, entries, inline)
        wants = tuple(Want(c.doc_id, (c.rev,)) for c in part[:answer])
        sender.note_missing(Missing(changes_id, wants, had))
        return len(inline)

    assert await offer(feed[0:10], answer=0) == 0  # the probe: no bodies; it lacked none
    assert await offer(feed[10:20], answer=9) == 0  # bodies still off; it lacked 9 of 10
    assert await offer(feed[20:30], answer=0, had=8) == 10  # on: all ten; it held 8
    assert await offer(feed[30:40], answer=0) == 0  # off again


async def test_inline_revisions_the_client_held_make_no_events_and_no_counts(
        tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    lacked, n = 2500, 4000
    _fill(b, range(n))
    _fill(a, range(lacked, n))  # the server offers, inline, bodies the client holds
    before = a.update_seq
    rep, _, tap, seen = await _pull(a, b)
    pulled = sorted(e.doc_id for e in seen
                    if isinstance(e, DocumentReplicated) and e.direction is Direction.PULL)
    # The store said which it held: only what it lacked was stored, reported, counted.
    assert pulled == [f"doc-{i:05d}" for i in range(lacked)]
    assert tap.inline > lacked  # (some of it held: the frames in flight went on)
    assert rep.status.done == rep.status.total == lacked
    assert a.update_seq == before + lacked and len(a.all_docs()) == n
