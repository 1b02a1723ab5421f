"""Moving revisions in bulk: `RevisionSender` (many per frame, pipelined, bounded
unacked bytes) and `RevisionReceiver` (resolve deltas, fetch blobs, store a frame
with one `put_revisions` call, ack). Pull and push use both, in opposite roles.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from engine.errors import BlobMissingError, RemoteProtocolError, UsageError
from engine.protocol import Ack, DocRev, RevisionData, Revs, Want, encode
from engine.store.blobs import blob_refs
from engine.store.database import Database
from engine.store.revs import Revision
from engine.sync.blobxfer import fetch_blob
from engine.sync.link import Link
from engine.sync.storeio import (
    LOOP_STORE_MAX,
    SMALL,
    load_revisions,
    resolve_revisions,
    run_db,
)

MAX_INFLIGHT = 16 * 1024 * 1024  # unacked revs bytes per connection
MAX_PER_FRAME = 2000  # revisions in one revs frame (and one put_revisions call)


@dataclass
class _Frame:
    batch: int
    keys: frozenset[DocRev]
    size: int


class RevisionSender:
    """Sends wanted revisions for batches, in order, while the peer keeps up."""

    def __init__(self, link: Link, db: Database, *, deltas: bool,
                 on_done: Callable[[int], Awaitable[None]] | None = None,
                 on_delivered: Callable[[int, list[DocRev]], None] | None = None,
                 on_outcomes: Callable[[int, int, Ack], None] | None = None,
                 max_inflight: int = MAX_INFLIGHT) -> None:
        self.link = link
        self.db = db
        self.deltas = deltas
        self.on_done = on_done
        self.on_delivered = on_delivered
        self.on_outcomes = on_outcomes  # an ack naming revisions not stored (direct pushes)
        self.max_inflight = max_inflight
        # Half the default 4 MiB frame limit: a 1000-change batch of ~1 KB docs fits one
        # frame, hence one put_revisions (one fsync) and one ack on the other side.
        self.budget = min(2 * 1024 * 1024, link.conn.limits.max_frame // 2)
        self.inflight = 0
        self._frames: dict[int, _Frame] = {}
        self._sending: set[int] = set()  # direct groups not all sent yet: not done
        self._acked = anyio.Event()
        # Jobs go out in order: wanted revisions to load, or direct ones already loaded.
        self._jobs_in, self._jobs = anyio.create_memory_object_stream[
            tuple[int, list[Want], bool, list[RevisionData] | None]](math.inf)

    def enqueue(self, batch: int, wants: list[Want]) -> None:
        self._jobs_in.send_nowait((batch, wants, self.deltas, None))

    def enqueue_direct(self, group: int, revs: list[RevisionData]) -> None:
        """Push full revisions unasked (feature "direct"), after what is queued, in
        frames of their own; `group` (ours alone, not on the wire) is what on_done
        reports once all are acked."""
        self._sending.add(group)
        self._jobs_in.send_nowait((group, [], False, revs))

    async def run(self) -> None:
        try:
            async for batch, wants, deltas, direct in self._jobs:
                if direct is None:
                    await self._send_batch(batch, wants, deltas)
                    continue
                try:
                    await self._send_frames(batch, direct, [], direct=True)
                finally:
                    self._sending.discard(batch)
                await self._maybe_done(batch)
        finally:
            self.close()

    def close(self) -> None:
        """Release the job queue (also safe if `run` never started)."""
        self._jobs_in.close()
        self._jobs.close()

    async def _send_batch(self, batch: int, wants: list[Want], deltas: bool) -> None:
        # Load a slice at a time so a huge batch never sits in memory whole.
        for start in range(0, len(wants), MAX_PER_FRAME):
            chunk = wants[start:start + MAX_PER_FRAME]
            revs, gone = await run_db(self.db, len(chunk) <= SMALL, load_revisions, self.db,
                                      chunk, deltas)
            await self._send_frames(batch, revs, gone)
        await self._maybe_done(batch)

    async def _send_frames(self, batch: int, revs: list[RevisionData], gone: list[DocRev],
                           direct: bool = False) -> None:
        frame: list[RevisionData] = []
        size = 0
        for data in revs:
            est = _estimate(data)
            if frame and (size + est > self.budget or len(frame) >= MAX_PER_FRAME):
                await self._send_frame(batch, frame, [], size, direct)
                frame, size = [], 0
            frame.append(data)
            size += est
        if frame or gone:
            await self._send_frame(batch, frame, gone, size, direct)

    async def _send_frame(self, batch: int, revs: list[RevisionData], gone: list[DocRev],
                          size: int, direct: bool = False) -> None:
        while self.inflight and self.inflight + size > self.max_inflight:
            await self._acked.wait()
        self.inflight += size

        def make(request_id: int) -> Revs:
            self._frames[request_id] = _Frame(batch, frozenset([(r.doc_id, r.rev) for r in revs]),
                                              size)
            if direct:
                return Revs(request_id, request_id, tuple(revs), direct=True)
            return Revs(request_id, batch, tuple(revs), tuple(gone))

        await self.link.send(make)

    async def on_ack(self, ack: Ack) -> None:
        frame = self._frames.pop(ack.re)
        self.inflight -= frame.size
        self._acked.set()
        self._acked = anyio.Event()
        if ack.full:
            # The peer could not use our delta: resend those with a full body.
            self._jobs_in.send_nowait(
                (frame.batch, [Want(d, (r,)) for d, r in ack.full], False, None))
        skip = set(ack.full)  # (built once: it was once built per revision)
        if ack.have or ack.refused:
            skip.update(ack.have)
            skip.update([(doc, rev) for doc, rev, _ in ack.refused])
            if self.on_outcomes is not None:
                self.on_outcomes(frame.batch, len(frame.keys), ack)
        if self.on_delivered is not None:
            keys = [k for k in frame.keys if k not in skip] if skip else list(frame.keys)
            self.on_delivered(frame.batch, keys)
        await self._maybe_done(frame.batch)

    async def _maybe_done(self, batch: int) -> None:
        if self.on_done is None or batch in self._sending or self.link.conn.owed(batch):
            return
        if any(f.batch == batch for f in self._frames.values()):
            return
        await self.on_done(batch)


def _estimate(data: RevisionData) -> int:
    if data.packed is not None:
        size = len(data.packed)
    else:
        size = len(encode(data.body if data.body is not None else data.delta or {}))
    return size + 80 + len(data.doc_id) + 36 * len(data.history)


@dataclass
class Received:
    """What one revs frame did to the store."""

    stored: list[Revision] = field(default_factory=list)
    failed: list[tuple[DocRev, str]] = field(default_factory=list)
    full: list[DocRev] = field(default_factory=list)
    new_seqs: list[int] = field(default_factory=list)
    keys: frozenset[DocRev] = frozenset()  # every revision of the frame, stored or not
    have: list[DocRev] = field(default_factory=list)  # of a direct frame: already held


class RevisionReceiver:
    """Stores incoming revs frames: deltas resolved, blobs fetched first, one batch write
    (on the event loop when the frame is small enough and the database idle: see
    storeio.LOOP_STORE_MAX)."""

    def __init__(self, link: Link, db: Database, *,
                 accept: Callable[[Revision], bool] | None = None) -> None:
        self.link = link
        self.db = db
        self.accept = accept
        self.max_blob = link.conn.limits.max_blob

    async def handle(self, msg: Revs) -> Received:
        out = Received()
        try:
            ready, out.full, blobs, stored, out.have = await run_db(
                self.db, len(msg.revs) <= LOOP_STORE_MAX,
                self._resolve_and_store, msg)
        except (UsageError, BlobMissingError) as err:
            raise await self._refused(err) from err
        if stored is not None:
            out.stored, out.new_seqs = ready, stored
        else:
            missing = [d for d, ref in blobs.items()
                       if not await fetch_blob(self.link, self.db, ref, self.max_blob)]
            for rev in ready:
                reason = _reason(rev, missing, self.accept)
                if reason is None:
                    out.stored.append(rev)
                else:
                    out.failed.append(((rev.doc_id, rev.rev), reason))
            if out.stored:
                try:
                    out.new_seqs = await anyio.to_thread.run_sync(functools.partial(
                        self.db.put_revisions, out.stored, source=self._source()))
                except (UsageError, BlobMissingError) as err:
                    raise await self._refused(err) from err
        out.keys = self.link.conn.received_keys(msg.id)  # (a set made once, while checked)
        if msg.direct:  # nothing was asked for: say what became of what was not stored
            await self.link.send(Ack(msg.id, (), tuple(out.have), tuple(
                [(doc, rev, reason) for (doc, rev), reason in out.failed])))
        else:
            await self.link.send(Ack(msg.id, tuple(out.full)))
        return out

    async def _refused(self, err: Exception) -> RemoteProtocolError:
        await self.link.fail("protocol", str(err))
        return RemoteProtocolError(f"The peer sent a revision the store refused: {err}")

    def _resolve_and_store(self, msg: Revs) -> tuple[
            list[Revision], list[DocRev], dict[str, dict[str, Any]], list[int] | None,
            list[DocRev]]:
        """Blocking: resolve the frame and, when no blob is lacking and no filter
        applies (the common case), store it in the same thread hop (new seqs, else None).
        Of a direct frame, the revisions already held are left out (and returned)."""
        if msg.direct:
            ready, full, blobs = resolve_revisions(self.db, msg.revs)
            if not (blobs or self.accept is not None or not ready):
                # The store says which it held (exactly, under its write lock), so no
                # revs_diff first: the common case of a direct frame.
                held: list[DocRev] = []
                seqs = self.db.put_revisions(ready, source=self._source(), held=held)
                if held:
                    skip = set(held)
                    ready = [r for r in ready if (r.doc_id, r.rev) not in skip]
                return ready, full, blobs, seqs, held
        revs, have = _split_held(self.db, msg.revs) if msg.direct else (msg.revs, [])
        ready, full, blobs = resolve_revisions(self.db, revs)
        if blobs or self.accept is not None or not ready:
            return ready, full, blobs, None, have
        return ready, full, blobs, self.db.put_revisions(ready, source=self._source()), have

    def _source(self) -> str | None:
        hello = self.link.conn.peer_hello  # names the peer in resolution notes
        return None if hello is None else hello.peer_id


def _split_held(db: Database, revs: tuple[RevisionData, ...]
                ) -> tuple[tuple[RevisionData, ...], list[DocRev]]:
    """Blocking: the revisions the store lacks, and the keys of those it holds.
    (A write from elsewhere between this and the store is harmless: put_revisions
    skips what it holds, and the pusher reports that revision as pushed.)"""
    asked: dict[str, list[str]] = {}
    for r in revs:
        got = asked.get(r.doc_id)
        if got is None:
            asked[r.doc_id] = [r.rev]
        else:
            got.append(r.rev)
    diff = db.revs_diff(asked)
    if len(diff) == len(asked) and all(len(m) == len(asked[d]) for d, (m, _) in diff.items()):
        return revs, []  # the common case: none of them held
    nothing: tuple[list[str], list[str]] = ([], [])
    lacking: list[RevisionData] = []
    held: list[DocRev] = []
    for r in revs:
        if r.rev in diff.get(r.doc_id, nothing)[0]:
            lacking.append(r)
        else:
            held.append((r.doc_id, r.rev))
    return tuple(lacking), held


def _reason(rev: Revision, missing_blobs: list[str],
            accept: Callable[[Revision], bool] | None) -> str | None:
    if missing_blobs and not rev.deleted:
        digests = {ref.get("digest") for ref in blob_refs(rev.body)}
        if digests & set(missing_blobs):
            return "a blob it references is not available from the peer"
    if accept is not None and not accept(rev):
        return "rejected by the filter"
    return None


__all__ = ["Received", "RevisionReceiver", "RevisionSender"]
