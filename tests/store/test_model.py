"""Random operation sequences: reopening and compacting never change what readers see."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import ConflictError, NotFoundError
from engine.store import Database, Revision, make_rev_id

DOCS = ["a", "b", "c"]
ops = st.lists(st.one_of(
    st.tuples(st.just("save"), st.sampled_from(DOCS), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.sampled_from(DOCS), st.just(0)),
    st.tuples(st.just("branch"), st.sampled_from(DOCS), st.integers(0, 3)),
    st.tuples(st.just("resolve"), st.sampled_from(DOCS), st.just(0)),
    st.tuples(st.just("purge"), st.sampled_from(DOCS), st.just(0)),
    st.tuples(st.just("local"), st.sampled_from(DOCS), st.integers(0, 3)),
    st.tuples(st.just("compact"), st.just(""), st.just(0)),
    st.tuples(st.just("reopen"), st.just(""), st.just(0)),
), max_size=20)


def snapshot(db: Database) -> Any:
    return (
        db.update_seq,
        db.changes(),
        {d: (db.get(d), db.leaves(d), [db.get_rev(d, r) for r in db.leaves(d)]) for d in DOCS},
        {d: db.get_local(d) for d in DOCS},
    )


def apply(db: Database, op: str, doc: str, n: int) -> None:
    cur = db.get(doc)
    try:
        if op == "save":
            db.save(doc, {"n": n}, rev=cur.rev if cur else None)
        elif op == "delete" and cur is not None:
            db.delete(doc, rev=cur.rev)
        elif op == "branch":  # a sibling of the winner, as if from a peer
            history = db.get_rev(doc, cur.rev).history if cur else []  # type: ignore[union-attr]
            parent = history[1] if len(history) > 1 else None
            rev = make_rev_id(parent, False, {"branch": n})
            db.put_revisions([Revision(doc, rev, False, {"branch": n}, [rev, *history[1:]])])
        elif op == "resolve" and db.conflicts(doc):
            db.resolve(doc, {"merged": True})
        elif op == "purge":
            db.purge(doc)
        elif op == "local":
            db.put_local(doc, None if n == 0 else {"n": n})
    except (ConflictError, NotFoundError):
        pass


LONG = os.environ.get("LISTSYNC_LONG") == "1"


@settings(max_examples=400 if LONG else 25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_reopen_and_compaction_preserve_everything_readers_see(
        sequence: list[tuple[str, str, int]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db"
        db = Database.open(path, max_history=4, max_ancestor_bodies=1)
        try:
            for op, doc, n in sequence:
                if op in ("compact", "reopen"):
                    before = snapshot(db)
                    if op == "compact":
                        db.compact(blob_grace=0)
                    else:
                        db.close()
                        db = Database.open(path, max_history=4, max_ancestor_bodies=1)
                    assert snapshot(db) == before
                else:
                    apply(db, op, doc, n)
            assert db.check() == []
        finally:
            db.close()
