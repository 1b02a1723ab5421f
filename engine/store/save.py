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
        new_rev, item = _edit(db, doc_id, body, rev, refs, db._seq())
        db._commit([item])
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
        seq = db._seq()
        for (doc_id, body, rev), refs in zip(edits, all_refs, strict=True):
            new_rev, item = _edit(db, doc_id, body, rev, refs, seq)
            items.append(item)
            new_revs.append(new_rev)
            seq += 1
        if items:
            db._commit(items)
    db._notify()
    return new_revs


def _edit(db: Database, doc_id: str, body: dict[str, Any], rev: str | None,
          refs: list[dict[str, Any]], seq: int) -> tuple[str, Item]:
    """The new rev id and journal record of one checked edit (caller holds the write lock)."""
    parent = db._edit_parent(doc_id, rev)
    if refs:
        db._require_refs(refs)
    new_rev = revs.make_rev_id(parent, False, body)
    return new_rev, ("R", [seq, doc_id, new_rev, [parent] if parent else [], False],
                     db._journal.pack_body(body))
