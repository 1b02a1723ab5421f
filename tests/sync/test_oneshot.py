"""One-shot replication between two databases over an in-memory channel."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from engine.protocol import Limits
from engine.store import Database
from engine.sync.config import Mode
from engine.sync.status import Activity, DocumentReplicated
from tests.sync.peers import MemoryPeer, doc_map, open_db, replicator, sync_once

pytestmark = pytest.mark.anyio


def _fill(db: Database, n: int, prefix: str = "doc") -> None:
    for i in range(n):
        db.save(f"{prefix}-{i:04d}", {"name": f"{prefix} {i}", "value": i}, rev=None)


async def test_pull_copies_every_document(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(b, 50)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = await sync_once(a, peer, mode=Mode.PULL)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)
    assert rep.status.activity is Activity.STOPPED and rep.status.error is None
    assert rep.status.done == rep.status.total == 50
    assert peer.errors == []


async def test_push_copies_every_document(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 50)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer, mode=Mode.PUSH)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)


async def test_push_and_pull_merges_both_sides(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 30, "left")
    _fill(b, 30, "right")
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = await sync_once(a, peer)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b) and len(doc_map(a)) == 60
    stats = rep.last_stats
    assert stats is not None and stats.revs_sent == 30 and stats.revs_received == 30
    assert stats.duplicates == 0 and peer.sessions[0].duplicates == 0


async def test_deletes_propagate(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 3)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer)
        doc = a.get("doc-0001")
        assert doc is not None
        a.delete("doc-0001", rev=doc.rev)
        await sync_once(a, peer)
        tg.cancel_scope.cancel()
    gone = b.get("doc-0001")
    assert gone is not None and gone.deleted
    assert doc_map(a) == doc_map(b)


async def test_updates_travel_as_deltas_and_conflicts_replicate(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    items = [{"key": f"item {i}", "value": i, "note": "x" * 40} for i in range(40)]
    rev = a.save("list", {"type": "list", "items": items}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer)
        items_a = [dict(i) for i in items]
        items_a[3]["value"] = 100
        items_b = [dict(i) for i in items]
        items_b[5]["value"] = 200
        a.save("list", {"type": "list", "items": items_a}, rev=rev)
        b.save("list", {"type": "list", "items": items_b}, rev=rev)
        rep = await sync_once(a, peer)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)
    assert len(a.leaves("list")) == 2
    stats = rep.last_stats
    assert stats is not None and stats.bytes_sent < 1500 and stats.bytes_received < 1500


async def test_document_events_report_each_revision(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 2, "mine")
    _fill(b, 3, "theirs")
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer)
        events = rep.events()
        await rep.run()
        tg.cancel_scope.cancel()
    async with events:
        seen = [event async for event in events]  # the stream ends when the run does
    docs = [e for e in seen if isinstance(e, DocumentReplicated)]
    assert sorted((e.direction.value, e.doc_id) for e in docs) == sorted(
        [("push", "mine-0000"), ("push", "mine-0001")]
        + [("pull", f"theirs-{i:04d}") for i in range(3)])
    assert all(e.error is None for e in docs)
    activities = [e.activity for e in seen if not isinstance(e, DocumentReplicated)]
    assert activities[0] is Activity.STOPPED and Activity.CONNECTING in activities
    assert activities[-1] is Activity.STOPPED


@pytest.mark.parametrize("mode", [Mode.PULL, Mode.PUSH])
async def test_batches_split_over_many_frames_all_arrive(tmp_path: Path, mode: Mode) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    source = b if mode is Mode.PULL else a
    source.save_many([(f"d{i:04d}", {"text": "x" * 900, "i": i}, None) for i in range(1500)])
    small = Limits(max_frame=64 * 1024)  # ~30 revisions per frame
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, limits=small, max_frame=small.max_frame)
        rep = await sync_once(a, peer, mode=mode, limits=small)
        tg.cancel_scope.cancel()
    assert len(a.all_docs()) == len(b.all_docs()) == 1500
    assert rep.status.done == rep.status.total == 1500
    assert rep.last_stats is not None and rep.last_stats.duplicates == 0


async def test_unusable_delta_is_answered_by_asking_for_the_full_body(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    rev = b.save("list", {"items": ["x" * 50] * 20}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer, mode=Mode.PULL)
        b.save("list", {"items": ["x" * 50] * 19 + ["y"]}, rev=rev)
        # A corrupt delta: applying it cannot reproduce the revision id.
        monkeypatch.setattr("engine.sync.storeio.delta_if_smaller",
                            lambda base, target: {"items": [1, []]})
        rep = await sync_once(a, peer, mode=Mode.PULL)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)
    assert rep.last_stats is not None and rep.last_stats.revs_received == 2  # delta, then full
    assert rep.status.done == rep.status.total == 1


async def test_no_deltas_when_the_listener_turns_them_off(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    rev = a.save("list", {"items": ["x" * 50] * 20}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, deltas=False)
        await sync_once(a, peer)
        a.save("list", {"items": ["x" * 50] * 19 + ["y"]}, rev=rev)
        rep = await sync_once(a, peer)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)
    assert rep.last_stats is not None and rep.last_stats.bytes_sent > 1000  # a full body


async def test_many_small_batches_pipeline_without_duplicates_and_checkpoint_the_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Small batches and frames: feeds, proposals and stores of several batches overlap.
    from engine.sync import client_push, server_session, transfer
    from engine.sync.client_session import checkpoint_id
    from engine.sync.status import Direction
    monkeypatch.setattr(client_push, "FEED_BATCH", 7)
    monkeypatch.setattr(server_session, "FEED_BATCH", 7)
    monkeypatch.setattr(transfer, "MAX_PER_FRAME", 3)
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 60, "left")
    _fill(b, 60, "right")
    b_seq = b.update_seq
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = await sync_once(a, peer)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b) and len(doc_map(a)) == 120
    stats = rep.last_stats
    assert stats is not None and stats.revs_sent == 60 and stats.revs_received == 60
    assert stats.duplicates == 0 and peer.sessions[0].duplicates == 0
    pulled = a.get_local(checkpoint_id(b.uuid, Direction.PULL))
    assert pulled is not None and pulled["seq"] >= b_seq  # all of b's own changes
    pushed = a.get_local(checkpoint_id(b.uuid, Direction.PUSH))
    assert pushed is not None and pushed["seq"] >= 60  # all of a's own changes
