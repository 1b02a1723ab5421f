"""Local edits: `Database.save` and `Database.save_many` (the store's hot write path).

Kept lean on purpose: each body is walked once (checks and blob references),
hashed once for its rev id and packed once, and records go to the index
directly; see tests/bench/store_bench.py for what it is measured against.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.errors import UsageError
from engine.store import revs

if TYPE_CHECKING:
    from engine.store.database import Database

Item = tuple[str, list[Any], bytes | None]  # (record kind, fields, body) for Database._commit


def save_one(db: Database, doc_id: str, body: dict[str, Any], rev: str | None) -> str:
    """`save_many` for one document, without its per-batch bookkeeping."""
    revs.check_doc_id(doc_id)
    refs = revs.check_body_refs(body)
    with db._writing():
        parent = db._edit_parent(doc_id, rev)
        if refs:
            db._require_refs(refs)
        new_rev = revs.make_rev_id(parent, False, body)
        db._commit([("R", [db._index.update_seq + 1, doc_id, new_rev,
                           [parent] if parent else [], False],
                     db._journal.pack_body(body))])
    db._notify()
    return new_rev


def save_many(db: Database, edits: list[tuple[str, dict[str, Any], str | None]]) -> list[str]:
    """Save several documents as one durable batch (all or nothing)."""
    all_refs = []
    for doc_id, body, _ in edits:
        revs.check_doc_id(doc_id)
        all_refs.append(revs.check_body_refs(body))
    if len({e[0] for e in edits}) != len(edits):
        raise UsageError("save_many takes each document id at most once.")
    with db._writing():
        items: list[Item] = []
        new_revs = []
        seq = db._index.update_seq + 1
        pack, make_rev_id, docs = db._journal.pack_body, revs.make_rev_id, db._index.docs
        for (doc_id, body, rev), refs in zip(edits, all_refs, strict=True):
            # (A new document needs no parent lookup: the common case of a batch.)
            parent = None if rev is None and doc_id not in docs else db._edit_parent(
                doc_id, rev)
            if refs:
                db._require_refs(refs)
            new_rev = make_rev_id(parent, False, body)
            items.append(("R", [seq, doc_id, new_rev, [parent] if parent else [], False],
                          pack(body)))
            new_revs.append(new_rev)
            seq += 1
        if items:
            db._commit(items)
    db._notify()
    return new_revs
