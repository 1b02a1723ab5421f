"""What sync relies on: put_revisions, revs_diff, conflicts, the resolver hook."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from engine.errors import BlobMissingError, ConflictError, InvalidIdError, UsageError
from engine.store import Database, Revision, make_rev_id


def edits(n: int, start: str | None = None, tag: str = "") -> list[tuple[str, dict[str, int]]]:
    """n successive (rev, body) edits on top of `start`, oldest first."""
    out = []
    parent = start
    for i in range(n):
        body = {f"v{tag}": i}
        parent = make_rev_id(parent, False, body)
        out.append((parent, body))
    return out


def as_revision(doc_id: str, chain: list[tuple[str, dict[str, int]]],
                base: list[str] | None = None) -> Revision:
    history = [rev for rev, _ in reversed(chain)] + (base or [])
    rev, body = chain[-1]
    return Revision(doc_id, rev, False, body, history)


def test_same_edit_on_two_stores_gives_the_same_rev(tmp_path: Path) -> None:
    with Database.open(tmp_path / "a") as a, Database.open(tmp_path / "b") as b:
        ra = a.save("list", {"items": [1]}, rev=None)
        rb = b.save("list", {"items": [1]}, rev=None)
        assert ra == rb
        assert a.save("list", {"items": [1, 2]}, rev=ra) == b.save("list", {"items": [1, 2]},
                                                                    rev=rb)


def test_put_revisions_grafts_ancestry_and_is_idempotent(db: Database) -> None:
    chain = edits(5)
    seqs = db.put_revisions([as_revision("d", chain)])
    assert len(seqs) == 1 and seqs[0] == db.update_seq
    assert db.leaves("d") == [chain[-1][0]]
    got = db.get_rev("d", chain[-1][0])
    assert got is not None and got.history == [r for r, _ in reversed(chain)]
    stub = db.get_rev("d", chain[1][0])
    assert stub is not None and stub.body is None  # ancestors arrive as stubs
    assert db.put_revisions([as_revision("d", chain)]) == []
    assert db.changes() == db.changes()[:1]

    more = edits(2, chain[-1][0], "b")
    db.put_revisions([as_revision("d", more, [chain[-1][0]])])
    assert db.get("d").rev == more[-1][0]  # type: ignore[union-attr]
    assert len(db.get_rev("d", more[-1][0]).history) == 7  # type: ignore[union-attr]
    assert db.check() == []


def test_put_revisions_refuses_revs_that_do_not_match_their_body(db: Database) -> None:
    chain = edits(2)
    forged = Revision("d", chain[-1][0], False, {"evil": 1}, [chain[1][0], chain[0][0]])
    with pytest.raises(UsageError):
        db.put_revisions([forged])
    assert db.get("d") is None


def test_concurrent_edits_become_conflicts_with_a_deterministic_winner(tmp_path: Path) -> None:
    base = edits(1)
    left = edits(1, base[0][0], "left")
    right = edits(2, base[0][0], "right")
    winners = set()
    for name, order in (("x", [left, right]), ("y", [right, left])):
        with Database.open(tmp_path / name) as db:
            db.put_revisions([as_revision("d", base)])
            for branch in order:
                db.put_revisions([as_revision("d", branch, [base[0][0]])])
            assert db.get("d").rev == right[-1][0]  # type: ignore[union-attr]
            assert db.conflicts("d") == [left[0][0]]
            assert db.changes()[-1].leaves == [right[-1][0], left[0][0]]
            winners.add(db.get("d").rev)  # type: ignore[union-attr]
    assert len(winners) == 1


def test_revs_diff_names_missing_revs_and_ancestors_we_hold(db: Database) -> None:
    chain = edits(3)
    db.put_revisions([as_revision("d", chain[:2])])
    newer = edits(1, chain[-1][0], "n")
    diff = db.revs_diff({"d": [chain[1][0], chain[2][0], newer[0][0]],
                         "other": [chain[0][0]]})
    assert diff == {"d": ([chain[2][0], newer[0][0]], [chain[1][0]]),
                    "other": ([chain[0][0]], [])}
    assert db.revs_diff({"d": [chain[0][0], chain[1][0]]}) == {}


@pytest.mark.parametrize(
    ("doc_id", "rev", "reason"),
    [
        ("_design", None, "reserved"),
        ("a\x7fb", None, "control character"),
        ("", None, "must not be empty"),
        ("é" * 126, None, "the limit is 250"),
        ("ok", "1-" + "a" * 32 + ",1-" + "b" * 32, "not of the form"),  # two ids in one
        ("ok", "01-" + "a" * 32, "not of the form"),
    ],
)
def test_revs_diff_refuses_a_bad_id_among_many(db: Database, doc_id: str, rev: str | None,
                                               reason: str) -> None:
    good = edits(1)[0][0]
    asked = {f"doc-{i}": [good] for i in range(50)}
    asked[doc_id] = [rev or good]
    with pytest.raises(InvalidIdError, match=reason):
        db.revs_diff(asked)


def test_revs_diff_accepts_unusual_but_valid_ids(db: Database) -> None:
    good = edits(1)[0][0]
    odd = ["é" * 125, "a/_b", "a//b", "x" * 250]  # long, and what the bulk check looks twice at
    assert db.revs_diff({d: [good] for d in odd}) == {d: ([good], []) for d in odd}


def test_a_live_rev_needing_an_absent_blob_stores_nothing(db: Database) -> None:
    ref = {"@type": "blob", "digest": "sha256-" + "0" * 64, "length": 3,
           "content_type": "image/png"}
    good = edits(1, tag="ok")
    body = {"image": ref}
    rev = Revision("pic", make_rev_id(None, False, body), False, body, [])
    with pytest.raises(BlobMissingError):
        db.put_revisions([as_revision("ok", good), rev])
    assert db.get("ok") is None and db.update_seq == 0
    with pytest.raises(BlobMissingError):
        db.save("pic", body, rev=None)
    stored = db.blobs.put(b"png", "image/png")
    db.save("pic", {"image": stored}, rev=None)


def test_resolver_hook_runs_after_a_conflict_and_resolve_is_one_batch(db: Database) -> None:
    base = edits(1)
    db.put_revisions([as_revision("d", base)])
    calls: list[str] = []

    def resolver(database: Database, doc_id: str) -> None:
        calls.append(doc_id)
        leaves = database.leaves(doc_id)
        merged = {"merged": sorted(leaves)}
        database.resolve(doc_id, merged, losers=database.conflicts(doc_id), winner=leaves[0])

    db.resolver = resolver
    a, b = edits(1, base[0][0], "a"), edits(1, base[0][0], "b")
    db.put_revisions([as_revision("d", a, [base[0][0]])])
    assert calls == []
    db.put_revisions([as_revision("d", b, [base[0][0]])])
    assert calls == ["d"]
    assert db.conflicts("d") == []
    doc = db.get("d")
    assert doc is not None and doc.rev.startswith("3-") and "merged" in doc.body
    assert len(db.leaves("d")) == 2  # the merged leaf and the loser's tombstone


def test_two_peers_resolving_the_same_conflict_make_identical_revs(tmp_path: Path) -> None:
    base = edits(1)
    a, b = edits(1, base[0][0], "a"), edits(1, base[0][0], "b")
    results = []
    for name in ("p1", "p2"):
        with Database.open(tmp_path / name) as db:
            db.put_revisions([as_revision("d", base), as_revision("d", a, [base[0][0]]),
                              as_revision("d", b, [base[0][0]])])
            db.resolve("d", {"merged": True})
            results.append(sorted(db.leaves("d")))
    assert results[0] == results[1]


def test_resolve_refuses_stale_winner_and_unknown_losers(db: Database) -> None:
    r1 = db.save("d", {"v": 1}, rev=None)
    with pytest.raises(ConflictError):
        db.resolve("d", {}, winner="1-" + "f" * 32)
    with pytest.raises(ConflictError):
        db.resolve("d", {}, losers=[r1])


def test_history_is_pruned_to_max_history(tmp_path: Path) -> None:
    with Database.open(tmp_path / "db", max_history=5, max_ancestor_bodies=2) as db:
        rev = None
        revs = []
        for i in range(12):
            rev = db.save("d", {"i": i}, rev=rev)
            revs.append(rev)
        got = db.get_rev("d", revs[-1])
        assert got is not None and got.history == list(reversed(revs))[:5]
        assert db.get_rev("d", revs[0]) is None
        assert db.get_rev("d", revs[-3]).body == {"i": 9}  # type: ignore[union-attr]
        assert db.get_rev("d", revs[-4]).body is None  # type: ignore[union-attr]
    with Database.open(tmp_path / "db", max_history=5, max_ancestor_bodies=2) as db:
        assert db.get_rev("d", revs[-1]).history == list(reversed(revs))[:5]  # type: ignore[union-attr]
        db.compact()
        assert db.get_rev("d", revs[-1]).history == list(reversed(revs))[:5]  # type: ignore[union-attr]
        assert db.get_rev("d", revs[-3]).body == {"i": 9}  # type: ignore[union-attr]
        assert db.check() == []


def test_a_tombstone_arriving_without_body_is_stored_as_deleted(db: Database) -> None:
    base = edits(1)
    tomb = make_rev_id(base[0][0], True, {"had": "a body"})
    db.put_revisions([as_revision("d", base),
                      Revision("d", tomb, True, None, [tomb, base[0][0]])])
    doc = db.get("d")
    assert doc is not None and doc.deleted and doc.rev == tomb
    assert db.all_docs() == [] and db.check() == []


def test_get_revs_answers_like_get_rev_for_each_key(db: Database) -> None:
    chain = edits(3)
    db.put_revisions([as_revision("a", chain)])
    db.save("b", {"x": 1}, rev=None)
    keys = [("a", chain[-1][0]), ("a", chain[0][0]), ("b", db.leaves("b")[0]),
            ("a", "9-" + "0" * 32), ("nope", chain[0][0])]
    assert db.get_revs(keys) == [db.get_rev(d, r) for d, r in keys]
    assert db.get_revs(keys)[0] == Revision("a", chain[-1][0], False, chain[-1][1],
                                            [rev for rev, _ in reversed(chain)])
    assert db.get_revs(keys)[3:] == [None, None]


def test_bulk_reads_return_each_body_whatever_lies_between(db: Database) -> None:
    import random

    from engine.store.journal import unpack_body
    from engine.store.peer import get_packed

    big = "x" * 20_000  # wider than the gap one read spans over
    revs: dict[str, str] = {}
    for start in range(0, 300, 100):
        revs.update((d, r) for d, r in zip(
            [f"d{i}" for i in range(start, start + 100)],
            [db.save(f"d{i}", {"n": i, "pad": big if i % 37 == 0 else ""}, rev=None)
             for i in range(start, start + 100)], strict=True))
        db.save(f"gap{start}", {"filler": big}, rev=None)
    keys = [(d, r) for d, r in revs.items()] + [("nope", revs["d1"])]
    random.Random(3).shuffle(keys)
    got = get_packed(db, keys)
    for (doc_id, rev), found in zip(keys, got, strict=True):
        if doc_id == "nope":
            assert found is None
            continue
        assert found is not None and found[1] is not None
        assert unpack_body(found[1]) == db.get(doc_id).body  # type: ignore[union-attr]
        assert found[2] == [rev]


def test_put_revisions_reports_the_revisions_it_held_already(db: Database) -> None:
    first, second = as_revision("a", edits(1)), as_revision("b", edits(1))
    held: list[tuple[str, str]] = []
    assert len(db.put_revisions([first], held=held)) == 1 and held == []
    assert len(db.put_revisions([first, second], held=held)) == 1
    assert held == [("a", first.rev)]
    # A held revision is skipped before its body is hashed: nothing of it is stored.
    stale = Revision("a", first.rev, False, {"other": 1}, [first.rev])
    held.clear()
    assert db.put_revisions([stale], held=held) == [] and held == [("a", first.rev)]
    assert db.get("a").body == first.body  # type: ignore[union-attr]


def test_held_revisions_include_another_handles_writes(db_path: Path) -> None:
    with Database.open(db_path) as mine, Database.open(db_path) as theirs:
        rev = as_revision("d", edits(2))
        theirs.put_revisions([rev])
        held: list[tuple[str, str]] = []
        assert mine.put_revisions([rev], held=held) == [] and held == [("d", rev.rev)]


def test_threads_storing_the_same_revisions_each_store_or_hold_every_one(
        db: Database) -> None:
    revisions = [as_revision(f"d{i}", edits(1, tag=str(i))) for i in range(200)]
    results: list[tuple[list[int], list[tuple[str, str]]]] = []

    def work() -> None:
        held: list[tuple[str, str]] = []
        results.append((db.put_revisions(list(revisions), held=held), held))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Every revision was stored by exactly one writer and reported held by the others.
    assert sum(len(seqs) for seqs, _ in results) == len(revisions)
    assert sum(len(held) for _, held in results) == 3 * len(revisions)
    assert all(len(seqs) + len(held) == len(revisions) for seqs, held in results)
    assert db.check() == []


def test_a_batch_stores_each_revision_once_and_resolves_what_it_makes_conflict(
        db: Database) -> None:
    calls: list[str] = []
    db.resolver = lambda database, doc_id: calls.append(doc_id)
    news = [as_revision(f"n{i}", edits(1, tag=str(i))) for i in range(40)]
    first, rival = as_revision("c", edits(1, tag="x")), as_revision("c", edits(1, tag="y"))
    copy = Revision("c", first.rev, False, dict(first.body or {}), list(first.history))
    batch = [*news[:20], first, first, copy, rival, rival, *news[20:], news[0]]
    held: list[tuple[str, str]] = []
    seqs = db.put_revisions(batch, held=held)
    assert seqs == list(range(1, 43)) and held == []
    assert sorted(db.leaves("c")) == sorted([first.rev, rival.rev])
    assert calls == ["c"]  # the one document this batch left in conflict
    assert [db.get(r.doc_id).rev for r in news] == [r.rev for r in news]  # type: ignore[union-attr]
    assert db.check() == []
