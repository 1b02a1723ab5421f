"""Deterministic conflict resolution, and the notes that let a user restore a loser."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from engine.inventory import LIST_DOC_ID, adjust, legacy_item_id, normalise
from engine.listdoc import update_list
from engine.store import Database, Revision, default_resolver, make_rev_id
from engine.sync.config import Mode
from tests.mesh.rig import open_peer, quantities, sync_pair, tree_map

pytestmark = pytest.mark.anyio
APPLES = legacy_item_id("Apples")


def branch(db: Database, doc_id: str, body: dict[str, object]) -> Revision:
    """A revision made on top of `db`'s current winner, not stored anywhere."""
    doc = db.get(doc_id)
    assert doc is not None
    rev = make_rev_id(doc.rev, False, body)
    return Revision(doc_id, rev, False, body, [rev, doc.rev])


def stores(tmp_path: Path, n: int) -> list[Database]:
    dbs = [open_peer(tmp_path / f"p{i}") for i in range(n)]
    for db in dbs:
        db.save("d", {"text": "base"}, rev=None)
        db.save(LIST_DOC_ID, normalise({"type": "list", "items": [
            {"key": "Apples", "value": 10}]}), rev=None)
    return dbs


def test_two_peers_resolving_the_same_conflict_write_identical_revisions(tmp_path: Path) -> None:
    a, b = stores(tmp_path, 2)
    left, right = branch(a, "d", {"text": "left"}), branch(a, "d", {"text": "right"})
    for db, first, second in ((a, left, right), (b, right, left)):   # opposite orders
        db.put_revisions([first])
        db.put_revisions([second])
    assert tree_map(a) == tree_map(b)
    assert a.conflicts("d") == [] and len(a.leaves("d")) == 2   # winner + the loser's tombstone
    winner = max(left.rev, right.rev)   # same generation: the greater rev id wins
    assert a.get("d").rev == winner   # type: ignore[union-attr]  # kept as is: no new rev


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
async def test_three_peers_resolving_in_any_order_converge(tmp_path: Path,
                                                           order: tuple[int, ...]) -> None:
    dbs = stores(tmp_path, 3)
    for i, db in enumerate(dbs):   # concurrent edits everywhere, of both kinds of doc
        db.save("d", {"text": f"peer {i}"}, rev=db.get("d").rev)   # type: ignore[union-attr]
        update_list(db, lambda b, i=i: adjust(b, APPLES, -(i + 1), device=f"dev-{i}",
                                               user="u", now=0.0))
    x, y, z = order
    for client, server in [(x, y), (z, y), (x, z), (y, x), (z, x)]:
        session = await sync_pair(dbs[client], dbs[server])
        assert session.error is None
    assert tree_map(dbs[0]) == tree_map(dbs[1]) == tree_map(dbs[2])
    assert all(db.conflicts("d") == [] == db.conflicts(LIST_DOC_ID) for db in dbs)
    assert quantities(dbs[0]) == {APPLES: 10 - 1 - 2 - 3}
    seqs = [db.update_seq for db in dbs]
    await sync_pair(dbs[0], dbs[2])   # resolved everywhere: nothing new to write
    assert [db.update_seq for db in dbs] == seqs


async def test_resolution_is_noted_with_its_source_peer_and_a_loser_can_be_restored(
        tmp_path: Path) -> None:
    a = Database.open(tmp_path / "a")
    a.resolver = default_resolver
    b = Database.open(tmp_path / "b")
    a.save("d", {"text": "base"}, rev=None)
    await sync_pair(a, b)
    base = a.get("d").rev   # type: ignore[union-attr]
    mine = a.save("d", {"text": "a's edit"}, rev=base)
    theirs = b.save("d", {"text": "b's edit"}, rev=base)
    started = time.time()
    await sync_pair(b, a, mode=Mode.PUSH)
    winner, loser = max(mine, theirs), min(mine, theirs)
    (note,) = a.resolutions()
    assert (note.doc_id, note.winner, note.kept, note.losers) == ("d", winner, winner, (loser,))
    assert note.from_peer == f"listsync-{b.uuid[:8]}" and not note.merged
    assert started <= note.at <= time.time()
    assert a.get_rev("d", loser).body is not None   # type: ignore[union-attr]
    a.close()
    a = Database.open(tmp_path / "a")   # the notes are durable (and local: b has none)
    assert a.resolutions() == [note] and b.resolutions() == []
    lost = a.get_rev("d", loser).body   # type: ignore[union-attr]
    restored = a.restore("d", loser)
    assert a.get("d").rev == restored and a.get("d").body == lost   # type: ignore[union-attr]
    await sync_pair(a, b)
    assert b.get("d").body == lost and b.conflicts("d") == []   # type: ignore[union-attr]


async def test_list_conflicts_are_merged_and_noted_as_merged(tmp_path: Path) -> None:
    a, b = stores(tmp_path, 2)
    update_list(a, lambda body: adjust(body, APPLES, -1, device="a", user="u", now=0.0))
    update_list(b, lambda body: adjust(body, APPLES, -2, device="b", user="u", now=0.0))
    await sync_pair(a, b)
    notes = [n for n in b.resolutions() if n.doc_id == LIST_DOC_ID]
    assert len(notes) == 1 and notes[0].merged and notes[0].winner != notes[0].kept
    assert quantities(a) == quantities(b) == {APPLES: 7}
