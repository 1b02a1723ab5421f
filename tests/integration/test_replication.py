"""Replication between two databases over a real listener and websocket on loopback."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from engine.store import Database
from engine.sync.config import Mode
from engine.sync.link import SessionStats
from engine.sync.status import Activity
from tests.integration.rig import (
    doc_map,
    fill,
    make_peer,
    serving,
    sync_once,
    wait_for,
)

pytestmark = pytest.mark.anyio

DOCS = 300


async def test_one_shot_pull_copies_every_document(tmp_path: Path,
                                                   server_stats: list[SessionStats]) -> None:
    server = make_peer(tmp_path, "server")
    fill(server.db, DOCS)
    local = Database.open(tmp_path / "client")
    async with serving(server):
        rep = await sync_once(server.replicator(local, mode=Mode.PULL))
    assert doc_map(local) == doc_map(server.db) and len(doc_map(local)) == DOCS
    assert rep.status.activity is Activity.STOPPED and rep.status.error is None
    assert rep.status.done == rep.status.total == DOCS
    assert [s.revs_sent for s in server_stats] == [DOCS]
    assert server_stats[0].duplicates == 0


async def test_one_shot_push_copies_every_document(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    fill(local, DOCS)
    async with serving(server):
        rep = await sync_once(server.replicator(local, mode=Mode.PUSH))
    assert doc_map(local) == doc_map(server.db) and len(doc_map(server.db)) == DOCS
    assert rep.last_stats is not None and rep.last_stats.revs_sent == DOCS
    assert rep.last_stats.duplicates == 0


async def test_push_and_pull_merges_both_sides(tmp_path: Path,
                                               server_stats: list[SessionStats]) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    fill(local, 150, "left")
    fill(server.db, 150, "right")
    async with serving(server):
        rep = await sync_once(server.replicator(local))
    assert doc_map(local) == doc_map(server.db) and len(doc_map(local)) == 300
    stats = rep.last_stats
    assert stats is not None and stats.revs_sent == 150 and stats.revs_received == 150
    assert stats.duplicates == 0 and server_stats[0].duplicates == 0


async def test_deletes_propagate_both_ways(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    fill(local, 10)
    async with serving(server):
        await sync_once(server.replicator(local))
        mine, theirs = local.get("doc-0001"), server.db.get("doc-0002")
        assert mine is not None and theirs is not None
        local.delete("doc-0001", rev=mine.rev)
        server.db.delete("doc-0002", rev=theirs.rev)
        await sync_once(server.replicator(local))
    for db in (local, server.db):
        assert [d.id for d in db.all_docs(include_deleted=True) if d.deleted] == [
            "doc-0001", "doc-0002"]
    assert doc_map(local) == doc_map(server.db)


async def test_a_restarted_sync_resumes_from_the_checkpoint(
        tmp_path: Path, server_stats: list[SessionStats]) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    fill(local, 100, "left")
    fill(server.db, 100, "right")
    async with serving(server):
        first = await sync_once(server.replicator(local))
        local.close()  # as if the process ended; a new one opens the database again
        local = Database.open(tmp_path / "client")
        again = await sync_once(server.replicator(local))
        fill(local, 3, "later-left")
        fill(server.db, 2, "later-right")
        third = await sync_once(server.replicator(local))
    assert first.last_stats is not None and again.last_stats is not None
    assert again.last_stats.revs_sent == again.last_stats.revs_received == 0
    assert server_stats[1].revs_sent == server_stats[1].revs_received == 0
    assert again.status.done == again.status.total == 0
    assert third.last_stats is not None
    assert (third.last_stats.revs_sent, third.last_stats.revs_received) == (3, 2)
    assert doc_map(local) == doc_map(server.db)


async def test_continuous_edits_arrive_without_a_call(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    async with serving(server) as tg:
        rep = server.replicator(local, continuous=True)
        tg.start_soon(rep.run)
        rev = server.db.save("list", {"type": "list", "n": 1}, rev=None)
        await wait_for(local, lambda: local.get("list") is not None)
        mine = local.get("list")
        assert mine is not None and mine.rev == rev
        local.save("list", {"type": "list", "n": 2}, rev=rev)
        await wait_for(server.db, lambda: _body(server.db, "list") == {"type": "list", "n": 2})
        local.save("other", {"v": 1}, rev=None)
        await wait_for(server.db, lambda: server.db.get("other") is not None)
        await rep.stop()
    assert doc_map(local) == doc_map(server.db)


def _body(db: Database, doc_id: str) -> object:
    doc = db.get(doc_id)
    return None if doc is None else doc.body


def _blob_doc(db: Database, doc_id: str, data: bytes) -> dict[str, object]:
    ref = db.blobs.put(data, "application/octet-stream")
    db.save(doc_id, {"type": "item", "image": ref}, rev=None)
    return ref


def _pattern(size: int) -> bytes:
    # Not all one byte: chunks must land at the right offsets to verify.
    return b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(size // 32 + 1))[
        :size]


async def test_blobs_sync_both_ways_including_a_multi_chunk_one(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    small = _blob_doc(local, "small", b"a tiny picture")
    big = _blob_doc(server.db, "big", _pattern(5 * 1024 * 1024 + 123))
    async with serving(server):
        await sync_once(server.replicator(local))
    assert server.db.blobs.read(str(small["digest"])) == b"a tiny picture"
    assert local.blobs.read(str(big["digest"])) == _pattern(5 * 1024 * 1024 + 123)
    assert doc_map(local) == doc_map(server.db)
    assert local.check() == [] and server.db.check() == []


async def test_a_50_mb_blob_syncs_over_real_sockets(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    data = _pattern(50 * 1024 * 1024)
    ref = _blob_doc(local, "huge", data)
    async with serving(server):
        await sync_once(server.replicator(local, mode=Mode.PUSH), seconds=120)
        other = Database.open(tmp_path / "third")
        await sync_once(server.replicator(other, mode=Mode.PULL), seconds=120)
    for db in (server.db, other):
        assert db.blobs.verify(str(ref["digest"]))
        assert db.get("huge") is not None


async def test_continuous_replication_carries_a_new_blob(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    async with serving(server) as tg:
        rep = server.replicator(local, continuous=True)
        tg.start_soon(rep.run)
        ref = _blob_doc(server.db, "pic", _pattern(1_500_000))
        await wait_for(local, lambda: local.get("pic") is not None)
        assert local.blobs.read(str(ref["digest"])) == _pattern(1_500_000)
        await rep.stop()


@pytest.mark.parametrize("mode", [Mode.PULL, Mode.PUSH], ids=["pull", "push"])
async def test_a_batch_spanning_several_revs_frames_arrives_whole(tmp_path: Path,
                                                                  mode: Mode) -> None:
    # ~1.8 MB of bodies: more than one revs frame (1 MiB budget) for one batch.
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    source = server.db if mode is Mode.PULL else local
    for i in range(300):
        source.save(f"big-{i:03d}", {"text": f"{i}" * 6000}, rev=None)
    async with serving(server):
        rep = await sync_once(server.replicator(local, mode=mode))
        assert rep.status.done == rep.status.total == 300
        assert doc_map(local) == doc_map(server.db)
        again = await sync_once(server.replicator(local, mode=mode))
    assert again.status.total == 0


async def test_a_listener_with_a_small_frame_limit_sizes_its_frames_to_it(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server", max_frame=65536)
    for i in range(100):
        server.db.save(f"doc-{i:03d}", {"pad": "x" * 1000}, rev=None)
    _blob_doc(server.db, "pic", _pattern(300_000))  # several blob chunks at this limit
    local = Database.open(tmp_path / "client")
    async with serving(server):
        await sync_once(server.replicator(local, mode=Mode.PULL))
    assert doc_map(local) == doc_map(server.db)
