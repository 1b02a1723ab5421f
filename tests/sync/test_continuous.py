"""Continuous replication and topologies of several peers."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from engine.store import Database
from engine.sync.replicator import Replicator
from engine.sync.status import Activity
from tests.sync.peers import MemoryPeer, doc_map, open_db, replicator, wait_for, wait_status

pytestmark = pytest.mark.anyio


def _no_duplicates(*reps: Replicator, peers: tuple[MemoryPeer, ...] = ()) -> None:
    for rep in reps:
        assert rep.last_stats is not None and rep.last_stats.duplicates == 0
    for peer in peers:
        assert all(s.duplicates == 0 for s in peer.sessions)
        assert peer.errors == []


async def test_continuous_edit_shows_up_on_the_other_side(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer, continuous=True)
        tg.start_soon(rep.run)
        rev = a.save("apple", {"value": 1}, rev=None)
        await wait_for(b, lambda: b.get("apple") is not None)
        b.save("apple", {"value": 2}, rev=rev)
        await wait_for(a, lambda: (d := a.get("apple")) is not None and d.body == {"value": 2})
        doc = a.get("apple")
        assert doc is not None
        a.delete("apple", rev=doc.rev)
        await wait_for(b, lambda: (d := b.get("apple")) is not None and d.deleted)
        await wait_status(rep, Activity.IDLE)
        await rep.stop()
        tg.cancel_scope.cancel()
    assert rep.status.activity is Activity.STOPPED
    assert doc_map(a) == doc_map(b)
    _no_duplicates(rep, peers=(peer,))


async def test_line_topology_carries_a_change_from_a_to_c_through_b(tmp_path: Path) -> None:
    a, b, c = (open_db(tmp_path, n) for n in "abc")
    async with anyio.create_task_group() as tg:
        peer_b, peer_c = MemoryPeer(b, tg), MemoryPeer(c, tg)
        rep_ab = replicator(a, peer_b, continuous=True)
        rep_bc = replicator(b, peer_c, continuous=True)
        tg.start_soon(rep_ab.run)
        tg.start_soon(rep_bc.run)
        a.save("from-a", {"v": "a"}, rev=None)
        c.save("from-c", {"v": "c"}, rev=None)
        await wait_for(c, lambda: c.get("from-a") is not None)
        await wait_for(a, lambda: a.get("from-c") is not None)
        for i in range(30):
            (a, b, c)[i % 3].save(f"doc{i}", {"i": i}, rev=None)
        await wait_for(a, lambda: len(doc_map(a)) == 32)
        await wait_for(c, lambda: len(doc_map(c)) == 32)
        await rep_ab.stop()
        await rep_bc.stop()
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b) == doc_map(c)
    _no_duplicates(rep_ab, rep_bc, peers=(peer_b, peer_c))


async def test_star_topology_converges(tmp_path: Path) -> None:
    hub = open_db(tmp_path, "hub")
    spokes = [open_db(tmp_path, f"s{i}") for i in range(3)]
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(hub, tg)
        reps = [replicator(db, peer, continuous=True) for db in spokes]
        for rep in reps:
            tg.start_soon(rep.run)
        for i, db in enumerate(spokes):
            for j in range(10):
                db.save(f"s{i}-{j}", {"from": i}, rev=None)
        for db in (hub, *spokes):
            await wait_for(db, lambda db=db: len(doc_map(db)) == 30)
        for rep in reps:
            await rep.stop()
        tg.cancel_scope.cancel()
    maps = [doc_map(db) for db in (hub, *spokes)]
    assert all(m == maps[0] for m in maps)
    _no_duplicates(*reps, peers=(peer,))


async def test_concurrent_edits_leave_the_same_conflict_everywhere(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    rev = a.save("x", {"n": 0}, rev=None)
    b.put_revisions(_copy(a, "x", rev))
    a.save("x", {"n": 1}, rev=rev)
    b.save("x", {"n": 2}, rev=rev)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer)
        await rep.run()
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)
    assert len(a.leaves("x")) == 2


def _copy(db: Database, doc_id: str, rev: str) -> list[object]:
    found = db.get_rev(doc_id, rev)
    assert found is not None
    return [found]
