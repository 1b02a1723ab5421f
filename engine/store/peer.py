"""Writes and questions that come from sync: put_revisions, resolve, revs_diff.

These are the `Database` methods of the same names (kept here so each file
stays readable); they use the Database's locking and commit path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgpack

from engine.errors import ConflictError, NotFoundError, UsageError
from engine.store import revs
from engine.store.commit import commit_revs
from engine.store.journal import pack_body, unpack_body
from engine.store.resolution import RESOLUTIONS_ID, Resolution, with_record
from engine.store.revs import Revision
from engine.store.verify import check_doc_ids, check_revs, matches

if TYPE_CHECKING:
    from engine.store.database import Database

Item = tuple[str, list[Any], bytes | None]  # (record kind, fields, body) for Database._commit
# pack_body's encoding, with a packer made once; one per thread, as a Packer keeps state.
_PACKERS = threading.local()
# The ancestors of a first revision; shared (never changed) as one for each would stay
# for the cyclic GC to scan until its batch is indexed.
_NO_ANCESTORS: list[str] = []


@dataclass(slots=True)
class PeerRevision(Revision):
    """A revision as the sync layer hands it over: doc id, rev id and history already
    checked by engine.protocol, the body JSON-checked by the frame decoder, and its blob
    references (`refs`) found. put_revisions skips those checks; it still verifies
    that the body hashes to the rev id."""

    refs: list[dict[str, Any]] = field(default_factory=list)


def _packer() -> msgpack.Packer:
    packer: msgpack.Packer | None = getattr(_PACKERS, "packer", None)
    if packer is None:
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    return packer


def revs_diff(db: Database, wanted: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str]]]:
    """Per doc id: (revs we lack, revs we hold that could serve as delta bases)."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    check_doc_ids(list(wanted))
    asked: list[str] = []  # every missing rev id, checked in one pass below
    with db._reading():
        docs = db._index.docs
        for doc_id, rev_list in wanted.items():
            tree = docs.get(doc_id)
            if tree is None:  # the common case in a first sync: all of it is missing
                missing = list(dict.fromkeys(rev_list)) if len(rev_list) > 1 else list(rev_list)
                if missing:
                    asked += missing
                    out[doc_id] = (missing, [])
                continue
            missing = [r for r in dict.fromkeys(rev_list) if r not in tree]
            if missing:
                for r in missing:
                    revs.generation(r)
                out[doc_id] = (missing, revs.possible_ancestors(tree, missing))
    check_revs(asked)
    return out


def get_revs(db: Database, keys: list[tuple[str, str]]) -> list[Revision | None]:
    """`Database.get_rev` for each key, under one lock and catch-up for the batch."""
    check_doc_ids([doc_id for doc_id, _ in keys])
    return [None if got is None else
            Revision(doc_id, rev, got[0], None if got[1] is None else unpack_body(got[1]), got[2])
            for (doc_id, rev), got in zip(keys, get_packed(db, keys), strict=True)]


def get_packed(db: Database, keys: list[tuple[str, str]]
               ) -> list[tuple[bool, bytes | None, list[str]] | None]:
    """Per (doc id, rev): (deleted, body as the journal holds it (msgpack) or None if
    not kept, history), or None if unknown. For senders: bodies stay encoded."""
    out: list[tuple[bool, bytes | None, list[str]] | None] = []
    with db._reading():
        docs, cache, max_history = db._index.docs, db._cache, db.max_history
        wanted: list[tuple[int, int, int]] = []  # (offset, length, index in out)
        for doc_id, rev in keys:
            tree = docs.get(doc_id)
            node = None if tree is None else tree.nodes.get(rev)
            if tree is None or node is None:
                out.append(None)
                continue
            data = None
            loc = node.loc  # (once: a SoloTree makes it anew each time)
            if loc is not None:
                # Bulk reads bypass the LRU: they would only evict what single reads reuse.
                data = cache.get(loc[0])
                if data is None:
                    wanted.append((*loc, len(out)))
            history = [rev] if node.parent is None else tree.history(rev, max_history)
            out.append((node.deleted, data, history))
        for i, data in _read_bodies(db, wanted):
            found = out[i]
            assert found is not None
            out[i] = (found[0], data, found[2])
    return out


READ_GAP = 16 * 1024  # bytes between two bodies that one read may span rather than two
READ_SPAN = 4 * 1024 * 1024  # bytes one read may cover


def _read_bodies(db: Database, wanted: list[tuple[int, int, int]]) -> list[tuple[int, bytes]]:
    """Read (offset, length, tag) ranges of the journal, as (tag, bytes). Bodies
    written together lie side by side, so a run of them is one read, not one each."""
    wanted.sort()
    read = db._journal.read
    got: list[tuple[int, bytes]] = []
    i = 0
    while i < len(wanted):
        start = wanted[i][0]
        end, j = start + wanted[i][1], i + 1
        while j < len(wanted) and wanted[j][0] - end <= READ_GAP and (
                wanted[j][0] + wanted[j][1] - start <= READ_SPAN):
            end = max(end, wanted[j][0] + wanted[j][1])
            j += 1
        if j == i + 1:
            got.append((wanted[i][2], read(start, wanted[i][1])))
        else:
            run = read(start, end - start)
            got += [(tag, run[off - start:off - start + length])
                    for off, length, tag in wanted[i:j]]
        i = j
    return got


def put_revisions(db: Database, revisions: list[Revision], source: str | None = None,
                  held: list[tuple[str, str]] | None = None) -> list[int]:
    """Insert revisions from a peer (named `source` in resolution notes), with their
    ancestry, as one durable batch. Appends to `held` the (doc id, rev id) of each
    revision the store already held (decided under the write lock, so exact)."""
    max_history = db.max_history
    with db._reading():  # (catches up with other processes' writes first)
        docs = db._index.docs
        # Held already: not hashed nor packed (the lock below checks again).
        known = [(tree := docs.get(r.doc_id)) is not None and r.rev in tree
                 for r in revisions]
    packer = _packer()
    pack = packer.pack
    # (ancestors, blob refs, packed body) of each revision, flat: a tuple each would stay
    # for the cyclic GC to scan while the batch is written.
    prepared: list[Any] = []
    for r, was_held in zip(revisions, known, strict=True):
        if was_held:
            prepared += (None, None, None)
        elif (type(r) is PeerRevision and len(r.history) == 1 and r.body is not None
              and r.rev[:2] == "1-" and matches(r.rev, None, r.deleted, r.body)):
            # A first revision that checks out (most of a first sync): `_prepare`'s
            # answer, without a call for each.
            prepared += (_NO_ANCESTORS, [] if r.deleted else r.refs, pack(r.body))
        else:
            prepared += _prepare(r, max_history, pack)
    with db._writing():
        rows: list[Any] = []  # records.ROW values per record to write
        # Documents this batch creates, with the rev it gives each; a second rev of one
        # (or any rev of a stored one) is noted in `seen`, its document in `touched`.
        created: dict[str, str] = {}
        seen: set[tuple[str, str]] = set()
        touched: list[str] = []
        first = seq = db._seq()
        docs = db._index.docs
        for r, ancestors, refs, packed in zip(revisions, prepared[0::3], prepared[1::3],
                                              prepared[2::3], strict=True):
            doc_id, rev = r.doc_id, r.rev
            tree = docs.get(doc_id)
            if tree is None:
                made = created.get(doc_id)
                if made is None:
                    created[doc_id] = rev
                elif made == rev or (doc_id, rev) in seen:
                    continue
                else:
                    seen.add((doc_id, rev))
                    touched.append(doc_id)
            elif rev in tree:
                if held is not None:
                    held.append((doc_id, rev))
                continue
            elif (doc_id, rev) in seen:
                continue
            else:
                seen.add((doc_id, rev))
                touched.append(doc_id)
            if packed is None:  # held a moment ago, gone since (compacted away): rare
                ancestors, refs, packed = _prepare(r, max_history, pack)
            if refs:
                db._require_refs(refs)
            rows += (seq, doc_id, rev, ancestors, r.deleted, packed)
            seq += 1
        if rows:
            commit_revs(db, rows, packer)
        docs = db._index.docs
        # (A document created by one revision of this batch has no conflict.)
        conflicted = [d for d in dict.fromkeys(touched)
                      if len(docs[d].leafs) > 1 and docs[d].conflicts()]
    if rows:
        db._notify()
    if db.resolver is not None and conflicted:
        db._context.source = source  # per thread: the resolver's resolve() reads it
        try:
            for doc_id in conflicted:
                db.resolver(db, doc_id)
        finally:
            db._context.source = None
    return list(range(first, seq))


def _prepare(r: Revision, max_history: int, pack: Callable[[Any], bytes]
             ) -> tuple[list[str], list[dict[str, Any]], bytes]:
    """A revision's checks (UsageError if it fails one), as (ancestors, blob references,
    packed body). Done before the write lock is taken, so other writers wait less."""
    body = r.body
    if type(r) is PeerRevision:
        # Ids and history were checked by engine.protocol, the body by its decoder.
        ancestors = r.history[1:max_history] if len(r.history) > 1 else _NO_ANCESTORS
        refs = r.refs
    else:
        revs.check_doc_id(r.doc_id)
        ancestors = revs.check_history(r, max_history)
        refs = [] if body is None else revs.check_body_refs(body)
    if body is None:
        if not r.deleted:
            raise UsageError(f"Revision {r.rev} of {r.doc_id!r} arrived without a body.")
        body = {}
    elif ancestors:
        if not matches(r.rev, ancestors[0], r.deleted, body):
            raise UsageError(f"Revision {r.rev} of {r.doc_id!r} does not match its body.")
    elif r.rev[:2] == "1-":  # (with no parent known, only a first revision is checkable)
        if not matches(r.rev, None, r.deleted, body):
            raise UsageError(f"Revision {r.rev} of {r.doc_id!r} does not match its body.")
    return ancestors, [] if r.deleted else refs, pack(body)


def resolve(db: Database, doc_id: str, winner_body: dict[str, Any],
            losers: list[str] | None, winner: str | None, record: bool = False) -> str:
    """Write `winner_body` as a child of the winning leaf (unless it is that leaf's body
    already) and tombstone `losers` (default: every conflicting leaf), in one durable
    batch; with `record`, note it in the resolutions local doc. Returns the new winner."""
    revs.check_doc_id(doc_id)
    revs.check_body(winner_body)
    with db._writing():
        tree = db._index.docs.get(doc_id)
        if tree is None:
            raise NotFoundError(f"Document {doc_id!r} does not exist.")
        win = tree.winner()
        if winner is not None and winner != win.rev:
            raise ConflictError(f"Document {doc_id!r} is now at {win.rev}, not {winner}.")
        live = tree.conflicts()
        losers = live if losers is None else losers
        for loser in losers:
            if loser not in live:
                raise ConflictError(f"{loser} is not a conflicting leaf of {doc_id!r}.")
        db._require_blobs(winner_body)
        assert win.loc is not None, "a leaf always keeps its body"
        same = revs.canonical(None, False, winner_body) == revs.canonical(
            None, False, db._body(win.loc))
        # Keeping the winner as it is needs no new revision: fewer revs to sync, and
        # peers that resolve the same leaves still write the same tombstones.
        merged = win.rev if same else revs.make_rev_id(win.rev, False, winner_body)
        seq = db._seq()
        items: list[Item] = []
        if merged not in tree:
            items.append(("R", [seq, doc_id, merged, [win.rev], False],
                          pack_body(winner_body)))
        for loser in sorted(losers):
            tomb = revs.make_rev_id(loser, True, {})
            if tomb not in tree:
                items.append(("R", [seq + len(items), doc_id, tomb, [loser], True],
                              pack_body({})))
        if items and record:
            note = Resolution(doc_id, merged, win.rev, tuple(sorted(losers)),
                              getattr(db._context, "source", None), time.time(),
                              merged=not same)
            loc = db._index.locals.get(RESOLUTIONS_ID)
            notes = None if loc is None else db._body(loc)
            items.append(("L", [RESOLUTIONS_ID], pack_body(with_record(notes, note))))
        if items:
            db._commit(items)
    db._notify()
    return merged
