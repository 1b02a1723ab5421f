"""Specs for the list in a database: merged reads, safe edits, the conflict resolver."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import NotFoundError
from engine.inventory import LIST_DOC_ID, adjust, find_item, set_image
from engine.listdoc import list_resolver, open_list_db, read_list, update_list
from engine.store import Database, Revision


def sell(db: Database, name: str, n: int = 1) -> None:
    update_list(db, lambda body: adjust(body, name, -n, device=db.uuid, user="bob", now=0.0))


def apples(db: Database) -> int:
    row = find_item(read_list(db), "Apples")
    assert row is not None
    return int(row["value"])


def leaf(db: Database) -> Revision:
    doc = db.get(LIST_DOC_ID)
    assert doc is not None
    rev = db.get_rev(LIST_DOC_ID, doc.rev)
    assert rev is not None
    return rev


@pytest.fixture
def kiosks(tmp_path: Path) -> tuple[Database, Database]:
    a, b = open_list_db(tmp_path, "a"), open_list_db(tmp_path, "b")
    yield a, b  # type: ignore[misc]
    a.close()
    b.close()


def test_two_kiosks_selling_concurrently_resolve_to_the_same_merged_revision(
        kiosks: tuple[Database, Database]) -> None:
    a, b = kiosks
    sell(a, "Apples")
    sell(b, "Apples", 2)
    from_a, from_b = leaf(a), leaf(b)
    a.put_revisions([from_b])
    b.put_revisions([from_a])
    assert a.conflicts(LIST_DOC_ID) == [] == b.conflicts(LIST_DOC_ID)
    assert apples(a) == apples(b) == 7
    assert leaf(a).rev == leaf(b).rev


def test_an_edit_on_a_conflicted_list_starts_from_all_leaves_and_resolves_them(
        kiosks: tuple[Database, Database]) -> None:
    a, b = kiosks
    a.resolver = None   # leave the conflict standing
    sell(a, "Apples", 3)
    sell(b, "Apples", 2)
    a.put_revisions([leaf(b)])
    assert len(a.conflicts(LIST_DOC_ID)) == 1
    assert apples(a) == 5            # reads merge every leaf
    sell(a, "Apples")
    assert a.conflicts(LIST_DOC_ID) == []
    assert apples(a) == 4
    b.put_revisions([leaf(a)])
    assert apples(b) == 4


def test_the_resolver_keeps_the_winner_of_a_document_that_is_not_a_list(tmp_path: Path) -> None:
    with Database.open(tmp_path / "x") as x, Database.open(tmp_path / "y") as y:
        x.save("note", {"text": "from x"}, rev=None)
        y.save("note", {"text": "from y"}, rev=None)
        y.resolver = list_resolver
        y.put_revisions([x.get_rev("note", x.get("note").rev)])  # type: ignore[union-attr]
        assert y.conflicts("note") == []
        doc = y.get("note")
        assert doc is not None and doc.body["text"] in ("from x", "from y")


def test_update_list_passes_the_operations_errors_through(
        kiosks: tuple[Database, Database]) -> None:
    a, _ = kiosks
    with pytest.raises(NotFoundError):
        sell(a, "Kiwis")
    before = a.update_seq
    with pytest.raises(NotFoundError):
        update_list(a, lambda body: set_image(body, "Kiwis", None, device="d", user="u", now=0))
    assert a.update_seq == before


def sync(src: Database, dst: Database) -> None:
    """A stand-in for replication of the list: every leaf of `src`, with its history."""
    revs = [src.get_rev(LIST_DOC_ID, rev) for rev in src.leaves(LIST_DOC_ID)]
    dst.put_revisions([rev for rev in revs if rev is not None])


def test_criss_cross_syncs_between_three_kiosks_converge_without_double_counting(
        tmp_path: Path) -> None:
    a, b, c = (open_list_db(tmp_path, name) for name in "abc")
    with a, b, c:
        sell(a, "Apples")
        sell(b, "Apples", 2)
        sync(a, b)
        sell(c, "Apples", 3)
        sync(b, c)
        sell(b, "Apples")
        sync(c, a)
        sync(a, b)
        sync(b, a)
        sync(c, a)
        sell(a, "Apples")
        for src, dst in [(a, b), (b, c), (c, a), (a, b), (b, c), (c, a)]:
            sync(src, dst)
        assert [apples(db) for db in (a, b, c)] == [2, 2, 2]
        assert len({leaf(db).rev for db in (a, b, c)}) == 1
        assert all(db.conflicts(LIST_DOC_ID) == [] for db in (a, b, c))
