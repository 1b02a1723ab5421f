"""Blocking store work for one batch, run through `run_db` (a worker thread, or
inline when it is small). Converts between the store's `Revision` and the
protocol's `RevisionData`, choosing deltas on the way out and verifying them on the way in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeGuard, TypeVar, TypeVarTuple

import anyio

from engine.protocol import (
    DeltaError,
    DocRev,
    RevisionData,
    Want,
    apply_delta,
    delta_if_smaller,
    make_rev_id,
    trusted,
)
from engine.protocol.limits import check_digest
from engine.store.blobs import blob_refs
from engine.store.database import Database
from engine.store.journal import unpack_body
from engine.store.peer import PeerRevision, get_packed
from engine.store.revs import Revision

T = TypeVar("T")
Ts = TypeVarTuple("Ts")
SMALL = 32  # documents: below this, store work is cheaper than a trip to a worker thread
# Revisions in a received frame up to which it is stored on the event loop when the
# database is idle, not in a worker thread (`run_db`): ~10-20 ms of store work at ~1 KB
# a document. In a worker thread the store work contends for the GIL with the loop
# reading and parsing the next frames, and allocates from another malloc arena. On a
# 2-core machine that cost the receiver of a 10k push ~10-15% more CPU (201 vs 98
# context switches, 12.3k vs 8.7k page faults), and inline a 10k pull ran 17-22% faster.
# The price: the loop is busy for one frame's store work, so other tasks (another
# connection, an app's screen) may wait that long. A timer task on a listener taking
# a 10k push was late by at most 21-23 ms (p99 15-19) inline, against 9-13 (p99 5-8)
# with the worker thread.
LOOP_STORE_MAX = 2000


async def run_db(db: Database, small: bool, fn: Callable[[*Ts], T], *args: *Ts) -> T:
    """Blocking store work: on a worker thread, or inline when `small` and the database
    is not busy in another thread. A thread hop costs 0.1-1 ms, more than a few
    documents' work; inline work never waits for another thread's write (try-lock)."""
    if small:
        with db.held_if_idle() as idle:
            if idle:
                return fn(*args)
    return await anyio.to_thread.run_sync(fn, *args)


def load_revisions(db: Database, wants: list[Want], deltas: bool
                   ) -> tuple[list[RevisionData], list[DocRev]]:
    """The wanted revisions ready to send, and those we can no longer produce.
    Full bodies stay as the journal holds them (msgpack), to be spliced into the frame."""
    out: list[RevisionData] = []
    gone: list[DocRev] = []
    pairs = [(want, rev) for want in wants for rev in want.revs]
    loaded = get_packed(db, [(want.doc_id, rev) for want, rev in pairs])
    for (want, rev), found in zip(pairs, loaded, strict=True):
        if found is None or (found[1] is None and not found[0]):
            gone.append((want.doc_id, rev))
            continue
        deleted, packed, history = found
        trimmed = _trim_history(tuple(history), want.ancestors)
        data = None
        if deltas and want.ancestors:
            body = unpack_body(packed) if packed is not None else {}
            data = _as_delta(db, want, rev, deleted, body, trimmed)
        out.append(data or trusted.full_revision(want.doc_id, rev, deleted, trimmed,
                                                 _EMPTY_MAP if packed is None else packed))
    return out, gone


_EMPTY_MAP = b"\x80"  # msgpack {}: the body of a tombstone whose body was not kept


def _trim_history(history: tuple[str, ...], held: tuple[str, ...]) -> tuple[str, ...]:
    """The history down to the first ancestor the receiver holds: it knows the rest,
    and 100 rev ids would otherwise outweigh a small delta many times over."""
    if held:
        known = set(held)
        for i, rev in enumerate(history[1:], 1):
            if rev in known:
                return history[:i + 1]
    return history


def _as_delta(db: Database, want: Want, rev: str, deleted: bool, body: dict[str, Any],
              history: tuple[str, ...]) -> RevisionData | None:
    held = set(want.ancestors)
    base = next((r for r in history[1:] if r in held), None)
    if base is None:
        return None
    base_rev = db.get_rev(want.doc_id, base)
    if base_rev is None or base_rev.body is None:
        return None
    delta = delta_if_smaller(base_rev.body, body)
    if delta is None:
        return None
    return RevisionData(want.doc_id, rev, deleted, history, base=base, delta=delta)


def resolve_revisions(db: Database, revs: tuple[RevisionData, ...]
                      ) -> tuple[list[Revision], list[DocRev], dict[str, dict[str, Any]]]:
    """Store-ready revisions, the ones whose delta failed (need a full body), and the
    blobs (digest -> reference) that live revisions need but the store lacks."""
    ready: list[Revision] = []
    full: list[DocRev] = []
    blobs: dict[str, dict[str, Any]] = {}
    new = PeerRevision.__new__
    for data in revs:
        body = data.body
        if body is None:
            body = _apply(db, data)
            if body is None:
                full.append(data.key)
                continue
        refs = [] if data.deleted else _blob_refs(body)
        for ref in refs:
            digest = ref.get("digest")
            # A malformed reference is left for put_revisions to refuse.
            if _is_digest(digest) and digest not in blobs and not db.blobs.has(digest):
                blobs[digest] = ref
        # The protocol layer checked ids and history, the decoder the body's values.
        # Built without the dataclass __init__ (which costs twice as much); every field is
        # set here (tests compare the result with the __init__-built revision).
        rev = new(PeerRevision)
        rev.doc_id = data.doc_id
        rev.rev = data.rev
        rev.deleted = data.deleted
        rev.body = body
        rev.history = list(data.history)
        rev.refs = refs
        ready.append(rev)
    return ready, full, blobs


def _blob_refs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """`blob_refs`, with a shortcut for the common flat body (no maps or lists inside)."""
    for value in body.values():
        if type(value) is dict or type(value) is list:
            return blob_refs(body)
    return [body] if body.get("@type") == "blob" else []


def _is_digest(value: object) -> TypeGuard[str]:
    try:
        check_digest(value)
    except ValueError:
        return False
    return True


def _apply(db: Database, data: RevisionData) -> dict[str, Any] | None:
    assert data.base is not None and data.delta is not None
    base = db.delta_base(data.doc_id, data.base)  # (trimmed moments ago: still there)
    if base is None:
        return None
    try:
        body = apply_delta(base, data.delta)
        parent = data.history[1]
        if make_rev_id(parent, data.deleted, body) != data.rev:
            raise DeltaError("The patched body does not hash to the revision id.")
    except (DeltaError, ValueError, TypeError):
        return None
    return body
