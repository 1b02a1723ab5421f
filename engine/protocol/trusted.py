"""Builders for protocol entries from values already checked: our own store's data.

The entry classes check every field on construction, which is right for anything
from outside. Bulk transfers build thousands of entries from the store (whose ids
and rev ids were checked when written) per frame; these builders skip the re-check.
"""

from __future__ import annotations

from engine.protocol.messages import Answer, Change, Proposal, RevisionData, Want

_new = object.__new__
_set = object.__setattr__


def change(seq: int, doc_id: str, rev: str, deleted: bool, leaves: tuple[str, ...]) -> Change:
    entry = _new(Change)
    _set(entry, "seq", seq)
    _set(entry, "doc_id", doc_id)
    _set(entry, "rev", rev)
    _set(entry, "deleted", deleted)
    _set(entry, "leaves", leaves)
    return entry


def want(doc_id: str, revs: tuple[str, ...], ancestors: tuple[str, ...]) -> Want:
    """From revs the peer's (checked) changes named and ancestors from our store."""
    entry = _new(Want)
    _set(entry, "doc_id", doc_id)
    _set(entry, "revs", revs)
    _set(entry, "ancestors", ancestors)
    return entry


def full_revision(doc_id: str, rev: str, deleted: bool, history: tuple[str, ...],
                  packed: bytes) -> RevisionData:
    """A revision with its body as the journal holds it (a msgpack map)."""
    entry = _new(RevisionData)
    _set(entry, "doc_id", doc_id)
    _set(entry, "rev", rev)
    _set(entry, "deleted", deleted)
    _set(entry, "history", history)
    _set(entry, "body", None)
    _set(entry, "base", None)
    _set(entry, "delta", None)
    _set(entry, "packed", packed)
    return entry


def proposal(doc_id: str, rev: str) -> Proposal:
    """A leaf of our own store to offer."""
    entry = _new(Proposal)
    _set(entry, "doc_id", doc_id)
    _set(entry, "rev", rev)
    _set(entry, "history", ())
    return entry


def send(ancestors: tuple[str, ...]) -> Answer:
    """The answer "send", naming ancestors our store holds."""
    entry = _new(Answer)
    _set(entry, "verdict", "send")
    _set(entry, "ancestors", ancestors)
    _set(entry, "reason", "")
    return entry
