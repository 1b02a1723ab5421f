"""Pulls without the missing/revs round trip: the `inline` and `inline_bulk` features
on both sides of a pull.

The server adds the bodies of small live changes, and (`inline_bulk`) of bulk
changes while the client lacks them, to the `changes` frame (`InlineSender`); the
client stores those it can right away (`store_inline`) and asks for the rest with
`missing` as usual. Anything unusual takes that usual path: a large body or one
with blobs (never sent inline), a revision whose blobs or ancestors the client
lacks (asked for again).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Collection, Container, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Generic, TypeVar

import anyio

from engine.errors import BlobMissingError, RemoteProtocolError, UsageError
from engine.protocol import Change, DocRev, Missing, RevisionData, trusted
from engine.protocol.inline import (
    ENVELOPE_BOUND,
    MAX_BULK_INLINE_FRAME,
    MAX_INLINE_FRAME,
    entry_bound,
    revision_bound,
)
from engine.protocol.limits import rev_generation
from engine.store.database import Database
from engine.store.peer import PeerRevision, get_packed
from engine.store.revs import Revision
from engine.sync.link import Link
from engine.sync.storeio import LOOP_STORE_MAX, resolve_revisions, run_db

K = TypeVar("K")
V = TypeVar("V")

INLINE_BODY_MAX = 16 * 1024  # packed body bytes; a larger revision goes by missing/revs
_BLOB_KEY = b"\xa5@type"  # "@type" in msgpack: the body may reference a blob
# Revisions and documents remembered per connection, most recent first out of mind: a
# live drain names what changed lately, and forgetting only costs some bytes.
_RECENT = 4096
# Frames of more revisions than this are bulk transfers, not live ones: not noted,
# which would cost the bulk path ~1 us a document for little use.
_TRACKED = 64


class _Recent(Generic[K, V]):
    """A dict that forgets its oldest entries beyond a bound."""

    def __init__(self, bound: int = _RECENT) -> None:
        self.bound = bound
        self.items: dict[K, V] = {}

    def put(self, key: K, value: V) -> None:
        items = self.items
        items.pop(key, None)  # re-inserted: now the most recent
        items[key] = value
        if len(items) > self.bound:
            del items[next(iter(items))]

    def put_many(self, keys: Iterable[K], value: V) -> None:
        """`put` for each key, in bulk (one already held keeps its place: cheaper). The
        oldest go once twice the bound is reached, so each key is copied about once."""
        items = self.items
        items.update(dict.fromkeys(keys, value))
        if len(items) > 2 * self.bound:
            self.items = dict(islice(items.items(), len(items) - self.bound, None))


_NOTHING: frozenset[DocRev] = frozenset()


class _Frames:
    """Whole sets of keys (bulk push frames'), kept as they came rather than copied
    key by key into a `_Recent`: the newest sets holding at least `bound` keys in all."""

    def __init__(self, bound: int = _RECENT) -> None:
        self.bound = bound
        self.sets: deque[frozenset[DocRev]] = deque()
        self.size = 0

    def add(self, keys: frozenset[DocRev]) -> None:
        self.sets.append(keys)
        self.size += len(keys)
        while self.size - len(self.sets[0]) >= self.bound:
            self.size -= len(self.sets.popleft())

    def among(self, keys: list[DocRev]) -> set[DocRev]:
        """Which of `keys` are held (a loop in C per set)."""
        return set().union(*[s.intersection(keys) for s in self.sets])


class InlineSender:
    """The server's side: which revisions of a changes frame to send inline.

    Live frames: it sends no revision twice on a connection, and none the client
    pushed or asked for (as far as it remembers: recent, live-sized exchanges).
    History goes down to the newest ancestor the client is known to hold (it pushed
    it, acknowledged it, or stored it inline: left it out of `missing`), else in
    full, as a revs frame would for a client holding none of it; so the client can
    link the revision into its tree and need not ask for it again.

    Bulk frames ("inline_bulk"): bodies ride along only while the client's answers
    show it lacks most of what it is offered. The first frame goes without (a probe);
    an answer that asks for at least half of a plain frame's revisions turns inlining
    on, one that says it already held at least half of a frame's inline revisions
    (`had`) turns it off. So a client that holds most (a re-sync after a lost
    checkpoint, a mesh neighbour got there first) is sent at most the frames in
    flight when that shows, not a copy of everything."""

    def __init__(self, db: Database, enabled: bool, bulk: bool = False,
                 max_frame: int = MAX_BULK_INLINE_FRAME * 2) -> None:
        self.db = db
        self.enabled = enabled  # the client's hello listed the feature
        self.bulk = enabled and bulk  # ... and "inline_bulk"
        # Like a revs frame: half our own frame limit, at most the protocol's cap.
        self.bulk_budget = min(MAX_BULK_INLINE_FRAME, max_frame // 2)
        # The latest answer: the client lacks most of what it is offered (None: no answer
        # yet; the first bulk frame is a probe, and the next waits for its answer).
        self.lacking: bool | None = None
        self.answered = anyio.Event()
        self.offered: dict[int, tuple[int, int]] = {}  # changes id -> (revs named, inline)
        self.known: _Recent[DocRev, None] = _Recent()  # not to inline: it has or gets them
        self.pushed = _Frames()  # not to inline either: bulk pushes the client made
        self.held: _Recent[str, str] = _Recent()  # doc id -> a revision the client holds
        self.asked: _Recent[DocRev, None] = _Recent()  # asked for in a missing frame
        self.pending: dict[int, tuple[DocRev, ...]] = {}  # changes id -> its inline revs

    def _hold(self, keys: Iterable[DocRev]) -> None:
        for key in keys:
            self.known.put(key, None)
            self.held.put(key[0], key[1])

    def note_pushed(self, revs: list[Revision], keys: Collection[DocRev]) -> None:
        """Revisions the client pushed to us (and we stored), and their `keys`."""
        if self.enabled and len(revs) <= _TRACKED:
            self._hold((r.doc_id, r.rev) for r in revs)
        elif self.bulk and keys:  # not to send back in a bulk frame of ours
            # The frame's own set of keys when it was stored whole: no tuple per revision.
            self.pushed.add(keys if isinstance(keys, frozenset) else frozenset(keys))

    def note_delivered(self, _batch: int, keys: list[DocRev]) -> None:
        """Revisions of a revs frame the client acknowledged (RevisionSender's hook)."""
        if self.enabled and len(keys) <= _TRACKED:
            self._hold(keys)

    def note_fresh(self) -> None:
        """The client subscribed as `fresh` (it never held a document): no probe."""
        if self.bulk and self.lacking is None:
            self.lacking = True
            self.answered.set()

    def note_sent(self, changes_id: int, inline: tuple[RevisionData, ...]) -> None:
        """A live frame went out (with these inline revisions)."""
        if inline:
            self.pending[changes_id] = tuple(r.key for r in inline)

    def note_offered(self, changes_id: int, entries: tuple[Change, ...],
                     inline: tuple[RevisionData, ...]) -> None:
        """A bulk frame went out: its answer will tell how much of it the client lacked."""
        if self.bulk and entries:
            named = len(entries) + sum(len(c.leaves) for c in entries)
            self.offered[changes_id] = (named, len(inline))

    def note_missing(self, msg: Missing) -> None:
        """The client's answer to a changes frame: what it asked for is on its way;
        the frame's inline revisions it did not ask for, it now holds."""
        if not self.enabled:
            return
        if len(msg.docs) <= _TRACKED:
            for w in msg.docs:
                for rev in w.revs:
                    self.known.put((w.doc_id, rev), None)
                    self.asked.put((w.doc_id, rev), None)
        elif self.bulk:  # asked for: on its way in a revs frame, not to inline later
            self.known.put_many([(w.doc_id, rev) for w in msg.docs for rev in w.revs], None)
        # Not if it was ever asked for: then it may still be on its way in a revs frame.
        self._hold(k for k in self.pending.pop(msg.re, ()) if k not in self.asked.items)
        offered = self.offered.pop(msg.re, None)
        if offered is not None:
            named, inline = offered
            if inline:
                self.lacking = 2 * min(msg.had, inline) < inline
            else:
                self.lacking = 2 * sum(len(w.revs) for w in msg.docs) >= named
            self.answered.set()

    async def for_frame(self, entries: tuple[Change, ...]) -> tuple[RevisionData, ...]:
        """The revisions to send inline with these entries (read inline when the store
        is idle: a live edit's few)."""
        if not self.enabled or not entries:
            return ()
        out = await run_db(self.db, True, self.revisions, entries)
        for r in out:  # the same winner comes back when, say, a loser is tombstoned
            self.known.put(r.key, None)
        return out

    def revisions(self, entries: tuple[Change, ...]) -> tuple[RevisionData, ...]:
        """Blocking (a store read): the winners to inline, within the frame cap."""
        budget = MAX_INLINE_FRAME - ENVELOPE_BOUND - sum(entry_bound(c) for c in entries)
        known = self.known.items
        keys = [(c.doc_id, c.rev) for c in entries if (c.doc_id, c.rev) not in known]
        if self.pushed.sets:
            pushed = self.pushed.among(keys)
            keys = [k for k in keys if k not in pushed]
        if budget <= 0 or not keys:
            return ()
        out = []
        for (doc_id, rev), found in zip(keys, get_packed(self.db, keys), strict=True):
            if found is None:
                continue
            deleted, packed, history = found
            if packed is None or len(packed) > INLINE_BODY_MAX or _BLOB_KEY in packed:
                continue
            trimmed = _trim(tuple(history), self.held.items.get(doc_id))
            size = revision_bound(doc_id, len(trimmed), len(packed))
            if size > budget:
                break
            budget -= size
            out.append(trusted.full_revision(doc_id, rev, deleted, trimmed, packed))
        return tuple(out)

    async def for_bulk(self, entries: tuple[Change, ...]
                       ) -> tuple[tuple[RevisionData, ...], int]:
        """The revisions to send inline with a bulk frame of these entries, and how many
        entries that frame should take (the rest go in the next frame, so that every
        body fits the frame cap). Nothing while the client seems to hold most."""
        if not (self.bulk and entries):
            return (), len(entries)
        if self.lacking is None and self.offered:
            await self.answered.wait()  # the probe's answer: a round trip, once
        if not self.lacking:
            return (), len(entries)
        out, cut, keys = await run_db(self.db, False, self.bulk_revisions, entries)
        self.known.put_many(keys, None)
        return out, cut

    def bulk_revisions(self, entries: tuple[Change, ...]
                       ) -> tuple[tuple[RevisionData, ...], int, list[DocRev]]:
        """Blocking (a store read): `for_bulk`'s work, and the keys of what it inlines."""
        known = self.known.items
        keys = [(c.doc_id, c.rev) for c in entries]
        pushed = self.pushed.among(keys) if self.pushed.sets else _NOTHING
        budget = self.bulk_budget - ENVELOPE_BOUND
        out: list[RevisionData] = []
        sent: list[DocRev] = []
        full = trusted.full_revision
        for i, (change, key, found) in enumerate(
                zip(entries, keys, get_packed(self.db, keys), strict=True)):
            budget -= entry_bound(change)
            if budget < 0:  # (a tiny frame limit) the entries alone fill the frame
                return (tuple(out), i, sent) if out else ((), len(entries), [])
            if found is None or key in known or key in pushed:
                continue
            deleted, packed, history = found
            if packed is None or len(packed) > INLINE_BODY_MAX or _BLOB_KEY in packed:
                continue
            # Whole history: the client may hold none of it (as a revs frame does).
            size = revision_bound(key[0], len(history), len(packed))
            if size <= budget:
                budget -= size
                out.append(full(key[0], key[1], deleted, tuple(history), packed))
                sent.append(key)
            elif i:
                return tuple(out), i, sent  # the next frame starts here, with room for it
            # (else not even a frame of its own would hold it: it goes by missing/revs)
        return tuple(out), len(entries), sent


def _trim(history: tuple[str, ...], held: str | None) -> tuple[str, ...]:
    """Down to the ancestor the client holds, if it is in the history; else all of it."""
    if held is not None:
        try:
            return history[:history.index(held, 1) + 1]
        except ValueError:
            pass
    return history


@dataclass
class InlineStored:
    """What the client did with a frame's inline revisions; the rest it asks for."""

    stored: list[Revision] = field(default_factory=list)
    failed: list[tuple[DocRev, str]] = field(default_factory=list)  # refused by the filter
    held: list[DocRev] = field(default_factory=list)  # the store had them already

    @property
    def handled(self) -> set[DocRev]:
        return ({(r.doc_id, r.rev) for r in self.stored} | {key for key, _ in self.failed}
                | set(self.held))

    def covers(self, changes: tuple[Change, ...]) -> bool:
        """Were all of these entries' revisions handled (none has other leaves, and one
        revision came inline for each)? Counts suffice, without a key per revision:
        the frame's inline revisions are distinct and each is one its entries name
        (checked on receipt), and what is handled is a part of them."""
        return (len(self.stored) + len(self.failed) + len(self.held) == len(changes)
                and not any(c.leaves for c in changes))


def pick(inline: tuple[RevisionData, ...], wanted: Container[str] | None,
         skip: Callable[[DocRev], bool] | None) -> list[RevisionData]:
    """The inline revisions of documents we pull (`wanted`; None: all) that we are not
    already getting (`skip`; None when nothing is on its way, as in most of a first
    pull). Those the store holds already, it tells when asked to store them."""
    if wanted is not None:
        inline = tuple(r for r in inline if r.doc_id in wanted)
    if skip is None:
        return list(inline)
    return [r for r in inline if not skip(r.key)]


async def store_inline(link: Link, db: Database, revs: list[RevisionData],
                       accept: Callable[[Revision], bool] | None) -> InlineStored:
    """Store what can be stored of `revs` (one durable batch; see storeio.LOOP_STORE_MAX).
    A revision the store refuses (its body does not hash to its id) is the peer's
    protocol error: it is told so, and the connection closes."""
    hello = link.conn.peer_hello
    source = None if hello is None else hello.peer_id
    try:
        return await run_db(db, len(revs) <= LOOP_STORE_MAX, _store, db, revs, accept, source)
    except (UsageError, BlobMissingError) as err:
        await link.fail("protocol", str(err))
        raise RemoteProtocolError(f"The peer sent a revision the store refused: {err}") from err


def _store(db: Database, revs: list[RevisionData], accept: Callable[[Revision], bool] | None,
           source: str | None) -> InlineStored:
    """Blocking. A revision is stored only if its history links it to what we hold:
    it goes back to the first generation, or names an ancestor we have (a sender
    that knows less sends the full history, as in a revs frame). The store then
    checks that each body hashes to its rev id, and says which it held already."""
    ready, _, blobs = resolve_revisions(db, tuple(revs))
    out = InlineStored()
    if accept is not None:
        # Only what we lack meets the filter: a held revision is no failure to report.
        lacking = db.revs_diff({r.doc_id: [r.rev] for r in ready}) if ready else {}
        out.held = [(r.doc_id, r.rev) for r in ready if r.doc_id not in lacking]
        ready = [r for r in ready if r.doc_id in lacking]
    linkable = []
    for rev in ready:
        if accept is not None and not accept(rev):
            out.failed.append(((rev.doc_id, rev.rev), "rejected by the filter"))
        elif not (blobs and not rev.deleted and _needs(rev, blobs)):
            linkable.append(rev)  # else fetched by the usual path, blob first
    ancestors: dict[str, list[str]] = {}
    for rev in linkable:
        if len(rev.history) > 1:
            ancestors.setdefault(rev.doc_id, []).extend(rev.history[1:])
    lacking = db.revs_diff(ancestors) if ancestors else {}
    stored: list[Revision] = []
    for rev in linkable:
        history = rev.history
        if len(history) == 1:  # the common case in a first pull: a new document
            if history[0][:2] == "1-":  # (else nothing links it: asked for as usual)
                stored.append(rev)
            continue
        gone = lacking.get(rev.doc_id, ((), ()))[0]
        if rev_generation(history[-1]) == 1 or any(a not in gone for a in history[1:]):
            stored.append(rev)
    if stored:
        held: list[DocRev] = []
        db.put_revisions(stored, source=source, held=held)
        if held:
            known = set(held)
            out.held += held
            stored = [r for r in stored if (r.doc_id, r.rev) not in known]
    out.stored = stored
    return out


def _needs(rev: Revision, blobs: dict[str, dict[str, Any]]) -> bool:
    refs = rev.refs if isinstance(rev, PeerRevision) else []
    return any(ref.get("digest") in blobs for ref in refs)


__all__ = ["INLINE_BODY_MAX", "InlineSender", "InlineStored", "pick", "store_inline"]
