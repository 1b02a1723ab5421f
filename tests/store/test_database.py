"""Documents: save/get with optimistic concurrency, delete, purge, listing, reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import ConflictError, InvalidIdError, NotFoundError, UsageError
from engine.store import Database, Revision, make_rev_id, open_user_db
from engine.store.create import default_data_dir


def test_saved_document_reads_back_after_reopen(db_path: Path) -> None:
    with Database.open(db_path) as db:
        rev = db.save("list", {"type": "list", "items": [{"key": "apple", "value": 3}]}, rev=None)
        uuid = db.uuid
    with Database.open(db_path, create=False) as db:
        doc = db.get("list")
        assert doc is not None
        assert (doc.id, doc.rev, doc.deleted) == ("list", rev, False)
        assert doc.body["items"] == [{"key": "apple", "value": 3}]
        assert db.uuid == uuid
        assert db.check() == []


def test_rev_id_matches_the_data_model(db: Database) -> None:
    r1 = db.save("a", {"x": 1}, rev=None)
    assert r1 == make_rev_id(None, False, {"x": 1})
    assert db.save("a", {"x": 2}, rev=r1) == make_rev_id(r1, False, {"x": 2})


def test_saving_on_a_stale_rev_is_a_conflict_not_an_overwrite(db: Database) -> None:
    r1 = db.save("a", {"x": 1}, rev=None)
    r2 = db.save("a", {"x": 2}, rev=r1)
    with pytest.raises(ConflictError):
        db.save("a", {"x": 3}, rev=r1)
    with pytest.raises(ConflictError):
        db.save("a", {"x": 3}, rev=None)
    with pytest.raises(ConflictError):
        db.save("new", {"x": 3}, rev=r1)
    doc = db.get("a")
    assert doc is not None and (doc.rev, doc.body) == (r2, {"x": 2})


def test_delete_leaves_a_tombstone_and_recreating_continues_history(db: Database) -> None:
    r1 = db.save("a", {"x": 1}, rev=None)
    r2 = db.delete("a", rev=r1)
    doc = db.get("a")
    assert doc is not None and doc.deleted and doc.rev == r2 and r2.startswith("2-")
    assert db.all_docs() == []
    assert [d.id for d in db.all_docs(include_deleted=True)] == ["a"]
    with pytest.raises(NotFoundError):
        db.delete("a", rev=r2)
    r3 = db.save("a", {"x": 9}, rev=None)
    assert r3.startswith("3-")
    rev = db.get_rev("a", r3)
    assert rev is not None and rev.history == [r3, r2, r1]


def test_purge_forgets_the_document_and_its_history_for_good(db_path: Path) -> None:
    with Database.open(db_path) as db:
        r1 = db.save("a", {"x": 1}, rev=None)
        db.save("b", {"x": 1}, rev=None)
        db.purge("a")
        db.purge("a")  # purging what is not there is a no-op
        assert db.get("a") is None and db.get_rev("a", r1) is None
        assert [c.doc_id for c in db.changes()] == ["b"]
        seq = db.update_seq
    with Database.open(db_path) as db:
        assert db.get("a") is None and db.leaves("a") == []
        assert db.update_seq == seq
        assert db.save("a", {"x": 1}, rev=None) == r1  # a fresh start, no ancestry


def test_all_docs_and_docs_by_type(db: Database) -> None:
    db.save("b", {"type": "list", "items": []}, rev=None)
    db.save("a", {"type": "note"}, rev=None)
    gone = db.save("c", {"type": "list"}, rev=None)
    db.delete("c", rev=gone)
    assert [d.id for d in db.all_docs()] == ["a", "b"]
    assert [d.id for d in db.docs_by_type("list")] == ["b"]


def test_save_many_is_one_batch_and_checks_every_rev_first(db: Database) -> None:
    r1 = db.save("a", {"n": 1}, rev=None)
    with pytest.raises(ConflictError):
        db.save_many([("b", {"n": 1}, None), ("a", {"n": 2}, None)])
    assert db.get("b") is None  # nothing of the failed batch was stored
    revs = db.save_many([("b", {"n": 1}, None), ("a", {"n": 2}, r1)])
    assert [db.get("b").rev, db.get("a").rev] == revs  # type: ignore[union-attr]
    with pytest.raises(UsageError):
        db.save_many([("c", {}, None), ("c", {}, None)])


def test_returned_bodies_are_copies(db: Database) -> None:
    db.save("a", {"items": [1]}, rev=None)
    doc = db.get("a")
    assert doc is not None
    doc.body["items"].append(2)
    assert db.get("a").body == {"items": [1]}  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["", "x" * 251, "a\x00b", "tab\there", "\udcff", "_local"])
def test_bad_ids_are_refused_everywhere(db: Database, bad: str) -> None:
    for call in (lambda: db.save(bad, {}, rev=None), lambda: db.get(bad),
                 lambda: db.delete(bad, rev="1-" + "a" * 32), lambda: db.purge(bad)):
        with pytest.raises(InvalidIdError):
            call()
    if bad != "_local":
        with pytest.raises(InvalidIdError):
            db.put_local(bad, {})


@pytest.mark.parametrize("body", [{"x": float("nan")}, {"x": (1, 2)}, {1: "int key"},
                                  {"x": 2**70}, {"x": b"bytes"}, ["not", "a", "dict"]])
def test_bodies_that_json_cannot_hold_are_refused(db: Database, body: object) -> None:
    with pytest.raises(UsageError):
        db.save("a", body, rev=None)  # type: ignore[arg-type]
    assert db.get("a") is None


def test_local_docs_persist_and_never_appear_in_changes(db_path: Path) -> None:
    with Database.open(db_path) as db:
        db.put_local("checkpoint-peer1", {"seq": 42})
        db.put_local("gone", {"x": 1})
        db.put_local("gone", None)
        assert db.changes() == [] and db.update_seq == 0
    with Database.open(db_path) as db:
        assert db.get_local("checkpoint-peer1") == {"seq": 42}
        assert db.get_local("gone") is None
        assert db.get("checkpoint-peer1") is None


def test_open_without_create_needs_an_existing_database(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        Database.open(tmp_path / "nothing", create=False)
    assert not (tmp_path / "nothing").exists()


def test_init_runs_once_at_creation_only(tmp_path: Path) -> None:
    calls: list[str] = []

    def init(db: Database) -> None:
        calls.append(db.uuid)
        db.save("list", {"type": "list", "items": []}, rev=None)

    with open_user_db(tmp_path, "alice", init=init) as db:
        assert db.path == tmp_path / "alice" / "userdb"
        assert db.get("list") is not None
    with open_user_db(tmp_path, "alice", init=init) as db:
        assert db.get("list") is not None
    assert len(calls) == 1


def test_failed_init_leaves_no_database(tmp_path: Path) -> None:
    def init(db: Database) -> None:
        db.save("half", {}, rev=None)
        raise RuntimeError("loader broke")

    with pytest.raises(RuntimeError):
        Database.open(tmp_path / "db", init=init)
    with Database.open(tmp_path / "db") as db:
        assert db.get("half") is None


@pytest.mark.parametrize("name", ["", "..", ".", "a/b", "-x", "a\x00", "x" * 65])
def test_user_and_db_names_must_be_single_safe_path_parts(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidIdError):
        open_user_db(tmp_path, name)
    with pytest.raises(InvalidIdError):
        open_user_db(tmp_path, "bob", name)
    assert list(tmp_path.iterdir()) == []


def test_default_data_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "listsync"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".local" / "share" / "listsync"


def test_closed_database_refuses_use(db_path: Path) -> None:
    db = Database.open(db_path)
    db.close()
    with pytest.raises(Exception, match="closed"):
        db.get("a")


def test_a_document_over_the_record_limit_is_refused_and_nothing_breaks(
        db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from engine.store import journal
    monkeypatch.setattr(journal, "MAX_RECORD", 2000)
    with Database.open(db_path) as db:
        with pytest.raises(UsageError, match="blob"):
            db.save("big", {"text": "x" * 3000}, rev=None)
        db.save("small", {"text": "x" * 100}, rev=None)
    with Database.open(db_path) as db:
        assert db.get("big") is None and db.get("small") is not None
        assert db.check() == []


def test_a_deeply_nested_body_saves_and_reads_back(db: Database) -> None:
    body: dict[str, object] = {"v": 1}
    for _ in range(450):  # deeper than the fast body check walks
        body = {"n": [body]}
    rev = db.save("deep", body, rev=None)
    assert rev == make_rev_id(None, False, body)
    assert db.get("deep").body == body  # type: ignore[union-attr]


def test_a_first_revision_grows_into_a_tree_on_the_next_one(db_path: Path) -> None:
    """Documents with one revision are held leaner; a child, a peer's revision and a
    peer's conflicting first revision each turn them into a full tree, as reopening does."""
    with Database.open(db_path) as db:
        firsts = db.save_many([(f"d{i}", {"i": i}, None) for i in range(3)])
        child = db.save("d0", {"i": 10}, rev=firsts[0])
        body = {"i": "theirs"}
        theirs = make_rev_id(firsts[1], False, body)
        db.put_revisions([Revision("d1", theirs, False, body, [theirs, firsts[1]])])
        other = {"i": "other"}
        rival = make_rev_id(None, False, other)  # the same doc id created on another peer
        db.put_revisions([Revision("d2", rival, False, other, [rival])])
        assert sorted(db.leaves("d2")) == sorted([firsts[2], rival]) and db.conflicts("d2")
        assert db.get_rev("d1", theirs).history == [theirs, firsts[1]]  # type: ignore[union-attr]
        seen = (db.changes(), [db.leaves(d) for d in ("d0", "d1", "d2")],
                db.get_rev("d1", theirs), db.get_rev("d0", child), db.get("d2"))
        assert db.check() == []
    with Database.open(db_path) as db:
        assert (db.changes(), [db.leaves(d) for d in ("d0", "d1", "d2")],
                db.get_rev("d1", theirs), db.get_rev("d0", child), db.get("d2")) == seen
