"""The Database: documents with revision trees over one journal, shared by processes.

Every operation takes the in-process mutex, then the cross-process flock
(shared to read, exclusive to write), then catches up on records other
processes appended (or reloads if compaction replaced the journal).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.errors import (
    BlobMissingError,
    ConflictError,
    NotFoundError,
    StorageFailedError,
    StoreError,
    UsageError,
)
from engine.store import revs
from engine.store.blobs import BlobStore, blob_refs, check_digest
from engine.store.commit import commit
from engine.store.feed import ChangeFeed
from engine.store.index import Index
from engine.store.journal import FileOps, Journal, Record, pack_body, scan, unpack_body
from engine.store.lock import FileLock, Hold
from engine.store.resolution import RESOLUTIONS_ID, Resolution, read_records
from engine.store.revs import Change, Document, Loc, Revision, Tree
from engine.store.save import save_many, save_one

Resolver = Callable[["Database", str], None]
_CACHE_SIZE = 256  # bodies (raw bytes) kept in memory


class Database:
    """A document database in one folder; see PLAN.md "Store API"."""

    def __init__(self, path: Path, lock: FileLock, journal: Journal, ops: FileOps,
                 max_history: int, max_ancestor_bodies: int) -> None:
        self.path = path
        self.ops = ops
        self.blobs = BlobStore(path / "blobs", ops)
        self.resolver: Resolver | None = None
        self.max_history = max_history
        self.max_ancestor_bodies = max_ancestor_bodies
        self._lock = lock
        self._journal = journal
        self._mutex = threading.RLock()
        self._context = threading.local()  # .source: the peer whose revs a resolver handles
        self._index = Index(max_history, max_ancestor_bodies)
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._feed = ChangeFeed()
        self._failed = False
        self._closed = False
        self._torn_tail_seen = False
        self._read_hold = Hold(self, False)
        self._write_hold = Hold(self, True)

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str, *, create: bool = True, max_history: int = 100,
             max_ancestor_bodies: int = 4, init: Callable[[Database], None] | None = None,
             file_ops: FileOps | None = None) -> Database:
        """Open (or create) the database in folder `path`; `init(db)` runs once at creation."""
        from engine.store.create import open_database
        if max_history < 1 or max_ancestor_bodies < 0:
            raise UsageError("max_history must be at least 1 and max_ancestor_bodies at least 0.")
        return open_database(cls, Path(path), create, max_history, max_ancestor_bodies,
                             init, file_ops or FileOps())

    @property
    def uuid(self) -> str:
        assert self._index.uuid is not None
        return self._index.uuid

    def close(self) -> None:
        with self._mutex:
            if not self._closed:
                self._closed = True
                self._journal.close()
                self._lock.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- locking and catching up ----------------------------------------------

    def _reading(self) -> Hold:
        return self._read_hold

    def _writing(self) -> Hold:
        return self._write_hold

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"The database at {self.path} is closed.")

    def _check_writable(self) -> None:
        if self._failed or self._journal.failed or self.blobs.failed:
            self._failed = True
            raise StorageFailedError(
                f"An earlier write to {self.path} failed; reopen the database to write again.")

    def _catch_up(self) -> None:
        journal = self._journal
        ino, size = journal.size_on_disk()
        if ino != journal.ino or size < journal.end:
            self._reload()
        elif journal.more_after_end() or (self._torn_tail_seen and self._lock.exclusive):
            # (The file size says nothing here: zeros are preallocated after the records.)
            journal.allocated = size
            # Opening, or about to cut a torn tail: are the zeros zeros to the end? (A
            # writer that crashed mid-append leaves a non-zero header: no check needed.)
            self._scan_tail(size, verify_tail=journal.end == 0 or (
                self._torn_tail_seen and self._lock.exclusive))

    def _scan_tail(self, size: int, verify_tail: bool = False) -> None:
        end = scan(self._journal.path, self._journal.fd, self._journal.end, size,
                   self._apply_scanned, verify_tail=verify_tail)
        self._journal.end = end.good
        self._torn_tail_seen = end.torn
        if end.torn and self._lock.exclusive and not self._failed:
            self._journal.cut_tail(end.good)
            self._torn_tail_seen = False

    def _apply_scanned(self, batch: list[Record], end: int) -> None:
        # Progress is recorded per batch so that a scan stopped by damage further
        # on never applies the same records twice when it is retried.
        self._index.apply(batch)
        self._journal.end = end

    def _reload(self) -> None:
        """Start over from whatever journal is at our path now (after compaction)."""
        path = self._journal.path
        old = self._journal
        try:
            self._journal = Journal(path, self.ops)
        except OSError as err:
            raise StoreError(f"The journal {path} cannot be opened: {err}.") from err
        self._journal.failed = old.failed
        old.close()
        self._index = Index(self.max_history, self.max_ancestor_bodies)
        self._cache.clear()
        self._scan_tail(os.fstat(self._journal.fd).st_size, verify_tail=True)
        if self._index.uuid is None:
            raise StoreError(f"The journal {path} has no header record.")

    # -- reading ---------------------------------------------------------------

    @property
    def update_seq(self) -> int:
        with self._reading():
            return self._index.update_seq

    @property
    def journal_bytes(self) -> int:
        """Bytes of records in the journal (the file is longer: zeros are preallocated)."""
        with self._reading():
            return self._journal.end

    def _body(self, loc: Loc) -> dict[str, Any]:
        data = self._cache.get(loc[0])
        if data is None:
            data = self._journal.read(*loc)
            self._cache[loc[0]] = data
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(loc[0])
        return unpack_body(data)

    def _tree(self, doc_id: str) -> Tree | None:
        return self._index.docs.get(revs.check_doc_id(doc_id))

    def _document(self, doc_id: str, tree: Tree) -> Document:
        node = tree.winner()
        assert node.loc is not None, "a leaf always keeps its body"
        return Document(doc_id, node.rev, node.deleted, self._body(node.loc))

    def get(self, doc_id: str) -> Document | None:
        """The winning revision; deleted documents come back with deleted=True."""
        with self._reading():
            tree = self._tree(doc_id)
            return None if tree is None else self._document(doc_id, tree)

    def get_rev(self, doc_id: str, rev: str) -> Revision | None:
        with self._reading():
            tree = self._tree(doc_id)
            node = None if tree is None else tree.nodes.get(rev)
            if tree is None or node is None:
                return None
            body = None if node.loc is None else self._body(node.loc)
            return Revision(doc_id, rev, node.deleted, body,
                            tree.history(rev, self.max_history))

    def delta_base(self, doc_id: str, rev: str) -> dict[str, Any] | None:
        """The body of `rev` to apply a peer's delta to: held, or trimmed lately (the
        journal keeps it until compaction). A peer bases a delta on a revision we told
        it we hold; a concurrent write may trim that body before the delta comes."""
        with self._reading():
            tree = self._tree(doc_id)
            node = None if tree is None else tree.nodes.get(rev)
            if node is None:
                return None
            loc = node.loc if node.loc is not None else self._index.trimmed.get((doc_id, rev))
            return None if loc is None else self._body(loc)

    def get_revs(self, keys: list[tuple[str, str]]) -> list[Revision | None]:
        """`get_rev` for many (doc id, rev) pairs under one lock and one catch-up."""
        from engine.store.peer import get_revs
        return get_revs(self, keys)

    def all_docs(self, *, include_deleted: bool = False) -> list[Document]:
        with self._reading():
            docs = [self._document(d, t) for d, t in sorted(self._index.docs.items())]
        return [d for d in docs if include_deleted or not d.deleted]

    def docs_by_type(self, type_: str) -> list[Document]:
        return [d for d in self.all_docs() if d.body.get("type") == type_]

    def leaves(self, doc_id: str) -> list[str]:
        """Leaf revs, winner first."""
        with self._reading():
            tree = self._tree(doc_id)
            return [] if tree is None else tree.leaves()

    def conflicts(self, doc_id: str) -> list[str]:
        """Live leaves that lose to the winner."""
        with self._reading():
            tree = self._tree(doc_id)
            return [] if tree is None else tree.conflicts()

    def changes(self, since: int = 0, limit: int | None = None) -> list[Change]:
        """One entry per document changed after `since`, oldest first."""
        with self._reading():
            index = self._index
            out = []
            for seq in index.seqs_after(since, limit):
                doc_id = index.by_seq[seq]
                tree = index.docs[doc_id]
                win = tree.winner()
                out.append(Change(seq, doc_id, win.rev, win.deleted, tree.leaves()))
            return out

    def get_local(self, local_id: str) -> dict[str, Any] | None:
        revs.check_id(local_id, "local document id")
        with self._reading():
            loc = self._index.locals.get(local_id)
            return None if loc is None else self._body(loc)

    # -- writing ---------------------------------------------------------------

    # Append records as one durable batch, then index them (engine/store/commit.py).
    _commit = commit

    def _require_blobs(self, body: dict[str, Any]) -> None:
        self._require_refs(blob_refs(body))

    def _require_refs(self, refs: list[dict[str, Any]]) -> None:
        for ref in refs:
            digest = ref.get("digest")
            check_digest(digest)
            assert isinstance(digest, str)
            if not self.blobs.has(digest):
                raise BlobMissingError(f"The blob {digest} is not stored; store it first.")

    def _edit_parent(self, doc_id: str, rev: str | None) -> str | None:
        """The rev a local edit goes on top of; ConflictError if `rev` is stale."""
        tree = self._index.docs.get(doc_id)
        if tree is None:
            if rev is not None:
                raise ConflictError(f"Document {doc_id!r} does not exist, so {rev} is stale.")
            return None
        win = tree.winner()
        if rev is None and win.deleted:
            return win.rev  # re-creating a deleted document continues its history
        if rev != win.rev:
            raise ConflictError(
                f"Document {doc_id!r} is at revision {win.rev}, not {rev}; reload and retry.")
        return win.rev

    def _seq(self) -> int:
        return self._index.update_seq + 1

    def save(self, doc_id: str, body: dict[str, Any], *, rev: str | None) -> str:
        """Save a new revision on top of `rev` (None for a new document)."""
        return save_one(self, doc_id, body, rev)

    def save_many(self, edits: list[tuple[str, dict[str, Any], str | None]]) -> list[str]:
        """Save several documents as one durable batch (all or nothing)."""
        return save_many(self, edits)

    def delete(self, doc_id: str, *, rev: str) -> str:
        """Tombstone the document; ConflictError if `rev` is not its current revision."""
        revs.check_doc_id(doc_id)
        with self._writing():
            tree = self._index.docs.get(doc_id)
            if tree is None or (tree.winner().deleted and tree.winner().rev == rev):
                raise NotFoundError(f"Document {doc_id!r} does not exist or is already deleted.")
            parent = self._edit_parent(doc_id, rev)
            new_rev = revs.make_rev_id(parent, True, {})
            self._commit([("R", [self._seq(), doc_id, new_rev, [parent], True], pack_body({}))])
        self._notify()
        return new_rev

    def purge(self, doc_id: str) -> None:
        """Forget a document and all its history (no-op if it is not stored)."""
        revs.check_doc_id(doc_id)
        with self._writing():
            if doc_id not in self._index.docs:
                return
            self._commit([("P", [self._seq(), doc_id], None)])
        self._notify()

    def put_local(self, local_id: str, body: dict[str, Any] | None) -> None:
        """Write (or with None, delete) a local document; it never replicates."""
        revs.check_id(local_id, "local document id")
        if body is not None:
            revs.check_body(body)
        with self._writing():
            self._commit([("L", [local_id], None if body is None else pack_body(body))])

    def put_revisions(self, revisions: list[Revision], *, source: str | None = None,
                      held: list[tuple[str, str]] | None = None) -> list[int]:
        """Insert revisions from a peer, with their ancestry, as one durable batch.

        Idempotent; BlobMissingError (nothing stored) if a live revision needs an
        absent blob. Returns the new seqs. A revision already held is skipped before
        its body is checked; its (doc id, rev id) is appended to `held` if given
        (exact under concurrent writers). Calls `self.resolver(db, doc_id)`
        afterwards for each touched document that now has conflicts; `source`
        names the peer in the notes of the resolutions that causes."""
        from engine.store.peer import put_revisions
        return put_revisions(self, revisions, source, held)

    def resolve(self, doc_id: str, winner_body: dict[str, Any], *,
                losers: list[str] | None = None, winner: str | None = None,
                record: bool = False) -> str:
        """Write `winner_body` as a child of the winning leaf (unless it is that leaf's
        body already) and tombstone `losers` (default: every conflicting leaf) in one
        durable batch; returns the new winner. `winner`, if given, must still be the
        winning leaf (else ConflictError); `record` notes it in `resolutions()`."""
        from engine.store.peer import resolve
        return resolve(self, doc_id, winner_body, losers, winner, record)

    def revs_diff(self, wanted: dict[str, list[str]]) -> dict[str, tuple[list[str], list[str]]]:
        """Per doc id: (revs we lack, revs we hold that could serve as delta bases);
        only docs with something missing appear."""
        from engine.store.peer import revs_diff
        return revs_diff(self, wanted)

    def resolutions(self) -> list[Resolution]:
        """Conflicts resolved in this database (not replicated), oldest first."""
        return read_records(self.get_local(RESOLUTIONS_ID))

    def restore(self, doc_id: str, loser_rev: str) -> str:
        """Write a losing revision's body as a new child of the current winner."""
        from engine.store.resolution import restore
        return restore(self, doc_id, loser_rev)

    # -- change notification ----------------------------------------------------

    def _notify(self) -> None:
        self._feed.notify()

    @contextmanager
    def held_if_idle(self) -> Iterator[bool]:
        """Hold this database's in-process lock if no other thread has it, without
        waiting; yields whether it is held (then calls on this thread don't block on it)."""
        held = self._mutex.acquire(blocking=False)
        try:
            yield held
        finally:
            if held:
                self._mutex.release()

    def _seq_if_current(self) -> int | None:
        """update_seq if no other process appended or compacted since we last looked (a
        statx and a read); None when unsure, e.g. while another thread holds the handle.
        Read under the mutex: a big write indexes its records before they are durable."""
        with self.held_if_idle() as held:
            journal = self._journal
            if (held and not self._closed and journal.size_on_disk()[0] == journal.ino
                    and not journal.more_after_end()):
                return self._index.update_seq
            return None

    async def subscribe(self, since: int = 0) -> AsyncIterator[int]:
        """Yield update_seq each time it grows past what was last yielded; wakes at
        once on writes through this handle, within ~100 ms on other processes' writes."""
        last = since
        waiter = self._feed.register()
        try:
            while True:
                seq = await self._feed.seq_after_arming(waiter, self)
                if seq > last:
                    last = seq
                    yield seq
                else:
                    await self._feed.wait(waiter)
        finally:
            self._feed.unregister(waiter)

    # -- maintenance -------------------------------------------------------------

    def compact(self, *, blob_grace: float = 3600.0) -> None:
        """Rewrite the journal with only what is kept; drop unreferenced blobs
        older than `blob_grace` seconds (younger ones may be about to be used)."""
        from engine.store.compact import compact
        compact(self, blob_grace)

    def check(self) -> list[str]:
        """Problems found (checksums, index, blobs); [] when healthy."""
        from engine.store.check import check
        return check(self)
