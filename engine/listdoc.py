"""The inventory list in a database: read it merged, edit it safely, resolve its conflicts.

The edge between the pure CRDT in `engine.inventory` and the store. Every
local edit starts from the merge of *all* live leaves, never from the winner
alone: a device must never grow its own counters from a stale branch, or a
later pointwise-max merge would hide its newer sales.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConflictError, StoreError
from engine.inventory import LIST_DOC_ID, LIST_TYPE, is_list_body, merge_list_bodies

if TYPE_CHECKING:
    from engine.store import Database

Body = dict[str, Any]
EMPTY_LIST: Body = {"type": LIST_TYPE, "items": []}
MAX_ATTEMPTS = 50  # optimistic-concurrency retries before giving up (each is one re-read)


def _leaf_bodies(db: Database, doc_id: str) -> tuple[str | None, list[str], list[Body]]:
    """(winner rev or None, conflicting leaf revs, bodies of the winner and those leaves)."""
    doc = db.get(doc_id)
    if doc is None:
        return None, [], []
    conflicts = db.conflicts(doc_id)
    bodies = [] if doc.deleted else [doc.body]
    for rev in conflicts:
        leaf = db.get_rev(doc_id, rev)
        if leaf is not None and leaf.body is not None:
            bodies.append(leaf.body)
    return doc.rev, conflicts, bodies


def read_list(db: Database) -> Body:
    """The list as this database knows it: the merge of every live leaf (empty if none)."""
    _, _, bodies = _leaf_bodies(db, LIST_DOC_ID)
    return merge_list_bodies(bodies) if bodies else merge_list_bodies([EMPTY_LIST])


def update_list(db: Database, edit: Callable[[Body], Body]) -> Body:
    """Apply `edit` (a pure inventory operation) to the merged list and save the result.

    On a ConflictError (another process or a sync wrote in between) re-read and
    retry. Conflicting leaves are tombstoned in the same write, since the new
    body already includes them. Errors raised by `edit` propagate unchanged.
    """
    for _ in range(MAX_ATTEMPTS):
        rev, conflicts, bodies = _leaf_bodies(db, LIST_DOC_ID)
        body = edit(merge_list_bodies(bodies) if bodies else merge_list_bodies([EMPTY_LIST]))
        try:
            if conflicts:
                db.resolve(LIST_DOC_ID, body, winner=rev, losers=conflicts)
            else:
                db.save(LIST_DOC_ID, body, rev=rev)
        except ConflictError:
            continue
        return body
    raise StoreError(f"The list changed {MAX_ATTEMPTS} times while saving an edit; try again.")


def list_resolver(db: Database, doc_id: str) -> None:
    """Conflict hook for `db.resolver`: merge a list's leaves, else keep the store's winner.

    The merged body is canonical and goes on top of the deterministic winner,
    so every peer resolving the same leaves writes the same revision id. Other
    documents get `default_resolver`'s treatment (winner kept, losers tombstoned).
    Either way the resolution is noted in `db.resolutions()`.
    """
    for _ in range(MAX_ATTEMPTS):
        rev, conflicts, bodies = _leaf_bodies(db, doc_id)
        if rev is None or not conflicts or not bodies:
            return   # a live winner always exists while there are conflicts
        body = merge_list_bodies(bodies) if is_list_body(bodies[0]) else bodies[0]
        try:
            db.resolve(doc_id, body, winner=rev, losers=conflicts, record=True)
        except ConflictError:
            continue   # another writer got in first; look again
        return


def open_list_db(data_dir: Path | None, user: str, db: str = "userdb") -> Database:
    """A user's database, loaded with the sample list on creation, with the list resolver set."""
    from engine.sample import load_sample
    from engine.store import open_user_db

    database = open_user_db(data_dir, user, db, init=load_sample)
    database.resolver = list_resolver
    return database
