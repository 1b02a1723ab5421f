"""Builders for protocol entries from values already checked: our own store's data.

The entry classes check every field on construction, which is right for anything
from outside. Bulk transfers build thousands of entries from the store (whose ids
and rev ids were checked when written) per frame; these builders skip the re-check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.protocol.messages import Answer, Change, Changes, Proposal, RevisionData, Want

_new = object.__new__
Setter = Callable[[Any, Any], None]


def slot_setters(cls: type, *names: str) -> tuple[Setter, ...]:
    """Setters of the slots `names` of a frozen slotted dataclass: calling the slot's
    own descriptor skips object.__setattr__'s lookup by name (~45 ns a field instead
    of ~100: thousands of entries per frame, several fields each)."""
    slots = getattr(cls, "__slots__", ())
    if set(names) != set(slots):  # every field set, or reading one would fail
        raise TypeError(f"{cls.__name__} has the fields {slots}, not {names}.")
    return tuple(cls.__dict__[name].__set__ for name in names)


def open_twin(cls: type) -> type:
    """A class with exactly the slots of the frozen slotted dataclass `cls` and none of
    its methods. An entry is built as a twin, its fields set by plain attribute stores
    (which the interpreter specialises to a few ns; a setter call costs ~45 ns, and a
    revision has eight fields), then made a `cls` by assigning `__class__`, which
    CPython allows between classes of the same slots."""
    slots = getattr(cls, "__slots__", ())
    if not slots or "__dict__" in slots or cls.__base__ is not object:
        raise TypeError(f"{cls.__name__} is not a slotted class of its own fields.")
    return type(f"_Open{cls.__name__}", (), {"__slots__": slots})


_OpenRevisionData: Any = open_twin(RevisionData)
_OpenChange: Any = open_twin(Change)

_C_SEQ, _C_DOC, _C_REV, _C_DEL, _C_LEAVES = slot_setters(
    Change, "seq", "doc_id", "rev", "deleted", "leaves")
_W_DOC, _W_REVS, _W_ANC = slot_setters(Want, "doc_id", "revs", "ancestors")
_R_DOC, _R_REV, _R_DEL, _R_HIST, _R_BODY, _R_BASE, _R_DELTA, _R_PACKED = slot_setters(
    RevisionData, "doc_id", "rev", "deleted", "history", "body", "base", "delta", "packed")
_P_DOC, _P_REV, _P_HIST = slot_setters(Proposal, "doc_id", "rev", "history")
_A_VERDICT, _A_ANC, _A_REASON = slot_setters(Answer, "verdict", "ancestors", "reason")
_CS_ID, _CS_SUB, _CS_CHANGES, _CS_LAST, _CS_INLINE = slot_setters(
    Changes, "id", "sub", "changes", "last_seq", "inline")


def change(seq: int, doc_id: str, rev: str, deleted: bool, leaves: tuple[str, ...]) -> Change:
    entry = _new(Change)
    _C_SEQ(entry, seq)
    _C_DOC(entry, doc_id)
    _C_REV(entry, rev)
    _C_DEL(entry, deleted)
    _C_LEAVES(entry, leaves)
    return entry


def want(doc_id: str, revs: tuple[str, ...], ancestors: tuple[str, ...]) -> Want:
    """From revs the peer's (checked) changes named and ancestors from our store."""
    entry = _new(Want)
    _W_DOC(entry, doc_id)
    _W_REVS(entry, revs)
    _W_ANC(entry, ancestors)
    return entry


def full_revision(doc_id: str, rev: str, deleted: bool, history: tuple[str, ...],
                  packed: bytes) -> RevisionData:
    """A revision with its body as the journal holds it (a msgpack map)."""
    entry = _new(RevisionData)
    _R_DOC(entry, doc_id)
    _R_REV(entry, rev)
    _R_DEL(entry, deleted)
    _R_HIST(entry, history)
    _R_BODY(entry, None)
    _R_BASE(entry, None)
    _R_DELTA(entry, None)
    _R_PACKED(entry, packed)
    return entry


def proposal(doc_id: str, rev: str) -> Proposal:
    """A leaf of our own store to offer."""
    entry = _new(Proposal)
    _P_DOC(entry, doc_id)
    _P_REV(entry, rev)
    _P_HIST(entry, ())
    return entry


def send(ancestors: tuple[str, ...]) -> Answer:
    """The answer "send", naming ancestors our store holds."""
    entry = _new(Answer)
    _A_VERDICT(entry, "send")
    _A_ANC(entry, ancestors)
    _A_REASON(entry, "")
    return entry


def changes(changes_id: int, sub: int, entries: tuple[Change, ...], last_seq: int,
            inline: tuple[RevisionData, ...]) -> Changes:
    """A changes frame of our store's feed, with inline revisions read for its entries."""
    msg = _new(Changes)
    _CS_ID(msg, changes_id)
    _CS_SUB(msg, sub)
    _CS_CHANGES(msg, entries)
    _CS_LAST(msg, last_seq)
    _CS_INLINE(msg, inline)
    return msg
