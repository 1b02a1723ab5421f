"""Three peers, each a database with a listener, joined in a line and in a star."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from engine import adjust, find_item, open_list_db, read_list, update_list
from engine.peer import ListenOptions
from engine.sync.link import SessionStats
from engine.sync.replicator import Replicator
from tests.integration.rig import Peer, doc_map, fill, make_peer, serving, wait_all

pytestmark = pytest.mark.anyio


def _same(*peers: Peer) -> bool:
    first = doc_map(peers[0].db)
    return all(doc_map(p.db) == first for p in peers[1:])


def _edit(peer: Peer, doc_id: str, body: dict[str, object]) -> None:
    doc = peer.db.get(doc_id)
    peer.db.save(doc_id, body, rev=None if doc is None else doc.rev)


def _assert_no_duplicates(reps: list[Replicator], server_stats: list[SessionStats]) -> None:
    for rep in reps:
        assert rep.last_stats is not None and rep.last_stats.duplicates == 0
    assert server_stats and all(s.duplicates == 0 for s in server_stats)


async def test_a_line_carries_changes_end_to_end_through_the_middle(
        tmp_path: Path, server_stats: list[SessionStats]) -> None:
    a, b, c = (make_peer(tmp_path, name) for name in "abc")
    fill(a.db, 30, "a")
    fill(c.db, 30, "c")
    async with serving(a, b, c) as tg:
        # A -> B's listener, B -> C's listener: A and C never talk directly.
        reps = [b.replicator(a.db, continuous=True), c.replicator(b.db, continuous=True)]
        for rep in reps:
            tg.start_soon(rep.run)
        await wait_all([a.db, b.db, c.db], lambda: _same(a, b, c) and len(doc_map(a.db)) == 60)

        _edit(a, "a-0001", {"from": "a", "edit": 1})
        await wait_all([c.db], lambda: doc_map(c.db).get("a-0001", [None] * 3)[2] == {
            "from": "a", "edit": 1})
        _edit(c, "c-0002", {"from": "c", "edit": 1})
        await wait_all([a.db], lambda: doc_map(a.db).get("c-0002", [None] * 3)[2] == {
            "from": "c", "edit": 1})
        await wait_all([a.db, b.db, c.db], lambda: _same(a, b, c))
        for rep in reps:
            await rep.stop()
    _assert_no_duplicates(reps, server_stats)


async def test_a_star_converges_with_edits_and_a_conflict_on_every_leaf(
        tmp_path: Path, server_stats: list[SessionStats]) -> None:
    hub, left, right = (make_peer(tmp_path, name) for name in ("hub", "left", "right"))
    for peer in (hub, left, right):
        fill(peer.db, 20, peer.db.path.parent.name)
    shared = hub.db.save("shared", {"v": 0}, rev=None)
    async with serving(hub, left, right) as tg:
        reps = [hub.replicator(leaf.db, continuous=True) for leaf in (left, right)]
        for rep in reps:
            tg.start_soon(rep.run)
        everyone = [hub.db, left.db, right.db]
        await wait_all(everyone, lambda: _same(hub, left, right) and len(doc_map(hub.db)) == 61)

        # Concurrent edits of one document on both leaves: a conflict everyone must see.
        left.db.save("shared", {"v": "left"}, rev=shared)
        right.db.save("shared", {"v": "right"}, rev=shared)
        _edit(hub, "hub-0003", {"edited": "hub"})
        _edit(left, "right-0004", {"edited": "left"})
        await wait_all(everyone, lambda: _same(hub, left, right)
                       and len(hub.db.leaves("shared")) == 2
                       and doc_map(right.db)["hub-0003"][2] == {"edited": "hub"}
                       and doc_map(right.db)["right-0004"][2] == {"edited": "left"})
        for rep in reps:
            await rep.stop()
    winner = {p.db.get("shared").rev for p in (hub, left, right)}  # type: ignore[union-attr]
    assert len(winner) == 1
    _assert_no_duplicates(reps, server_stats)


def _list_peer(tmp_path: Path, name: str) -> Peer:
    db = open_list_db(tmp_path / name, "alice")  # the sample list, the list resolver
    return Peer(db, tmp_path / name, ListenOptions(host="127.0.0.1"))


def _sell(peer: Peer, item: str, count: int) -> None:
    db = peer.db
    update_list(db, lambda body: adjust(body, item, -count, device=db.uuid, user="alice",
                                        now=time.time()))


def _quantity(peer: Peer, item: str) -> int | None:
    row = find_item(read_list(peer.db), item)
    return None if row is None else int(row["value"])


async def test_three_kiosks_selling_at_once_leave_the_count_lower_by_every_sale(
        tmp_path: Path, server_stats: list[SessionStats]) -> None:
    hub, left, right = (_list_peer(tmp_path, name) for name in ("hub", "left", "right"))
    start = _quantity(hub, "Apples")
    assert start is not None and start >= 6
    async with serving(hub, left, right) as tg:
        reps = [hub.replicator(leaf.db, continuous=True) for leaf in (left, right)]
        for rep in reps:
            tg.start_soon(rep.run)
        everyone = [hub.db, left.db, right.db]
        await wait_all(everyone, lambda: _same(hub, left, right))
        # Each kiosk sells apples before hearing of the others' sales: conflicts to merge.
        _sell(hub, "Apples", 1)
        _sell(left, "Apples", 2)
        _sell(right, "Apples", 3)
        await wait_all(everyone, lambda: all(
            _quantity(p, "Apples") == start - 6 and not p.db.conflicts("list")
            for p in (hub, left, right)) and _same(hub, left, right))
        for rep in reps:
            await rep.stop()
    _assert_no_duplicates(reps, server_stats)
