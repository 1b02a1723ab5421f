"""Checking a frame's many entries at once (revs, changes, proposals).

A 1000-entry frame checked one entry at a time spends more on Python calls than
on the checks. Here the common, valid case costs one light loop plus one C-level
regex pass over all rev ids and one over all doc ids; entries are then built
unchecked. Anything unusual (and every error) goes through the per-entry
parser instead, in frame order, so a bad frame is refused with the same reason
as before. The fast path accepts only what the per-entry checks accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from engine.protocol.codec import maps_ok
from engine.protocol.limits import BAD_ID_CHAR
from engine.protocol.messages import Answer, Change, Proposal, RevisionData, Want
from engine.protocol.trusted import (  # slot setters and open twins, made once
    _A_ANC,
    _A_REASON,
    _A_VERDICT,
    _P_DOC,
    _P_HIST,
    _P_REV,
    _W_ANC,
    _W_DOC,
    _W_REVS,
    _OpenChange,
    _OpenRevisionData,
)

# Rev ids, each followed by a comma (which no rev id or doc id check lets through).
# The 32 digest characters as "not a comma": a regex runs that as a tight loop, where
# a class of characters costs a test per character (100 ns a rev id); `revs_ok` checks
# the alphabet, and that each id has one dash, in bulk.
_REVS_RE = re.compile(r"(?:[1-9][0-9]{0,8}-[^,]{32},)*\Z")
_REV_CHARS = b"0123456789abcdef-,"
_MAX_SEQ = 2**63 - 1
_new = object.__new__


def revs_ok(revs: list[Any]) -> bool:
    """Are these all rev ids? (No reason: callers re-check one at a time to say which.)"""
    if not revs:
        return True
    try:
        joined = ",".join(revs)
    except TypeError:  # not all strings
        return False
    # The comma count rules out one string holding several ids ("1-..,1-.."); with the
    # pattern, one dash per id and the alphabet, each id is [1-9][0-9]{0,8}-[0-9a-f]{32}.
    n = len(revs)
    return (joined.count(",") == n - 1 and joined.count("-") == n and joined.isascii()
            and not joined.encode("ascii").translate(None, _REV_CHARS)
            and _REVS_RE.match(joined + ",") is not None)


def doc_ids_ok(ids: list[str]) -> bool:
    """Are these strings (each already through `_id_shape`) free of control
    characters and surrogates? One search over them all."""
    return not ids or BAD_ID_CHAR.search("/".join(ids)) is None


def _id_shape(doc: object) -> bool:
    """check_doc_id but for the characters: a string of 1..250 UTF-8 bytes, no "_" first."""
    return type(doc) is str and doc != "" and doc[0] != "_" and (
        len(doc) <= 62 or len(doc.encode("utf-8", "surrogatepass")) <= 250)


def _countdown(history: list[str]) -> bool:
    """Generations count down by one (the ids are already known to be rev ids)."""
    top = int(history[0][:history[0].index("-")])
    return all(int(h[:h.index("-")]) == top - i for i, h in enumerate(history))


def revisions(items: list[Any], one: Callable[[Any], RevisionData], rows: bool = False
              ) -> tuple[RevisionData, ...]:
    """The revisions of a revs frame; `one` parses (and refuses) a single entry.
    `rows`: the `rows` feature was agreed (an entry may be an array)."""
    out, ids, revs, long, bodies = _common_revisions(items, rows)
    if not (doc_ids_ok(ids) and revs_ok(revs) and all(_countdown(h) for h in long)):
        return tuple(one(i) for i in items)
    if len(bodies) != len(items):  # (a body per entry of the common shape)
        return tuple(one(i) if data is None else data for i, data in zip(items, out, strict=True))
    return tuple(out)  # type: ignore[arg-type]  # (no None left: checked just above)


def full_revisions(items: list[Any], max_depth: int, rows: bool = False
                   ) -> tuple[RevisionData, ...] | None:
    """`revisions` of entries not yet walked (see wire.parse_frame): the revisions if
    every entry has the common shape, passes the checks and carries a body the walk
    would accept; else None (and nothing is refused here: the usual path says why).
    The shape check proves the rest of an entry JSON-only: five str keys, a str doc
    id, a bool, a list of rev ids (str) whose first is `rev` (or an array of those)."""
    out, ids, revs, long, bodies = _common_revisions(items, rows)
    if (len(bodies) == len(items) and doc_ids_ok(ids) and revs_ok(revs)
            and all(_countdown(h) for h in long)
            and maps_ok(bodies, _BODY_DEPTH, max_depth)):
        return tuple(out)  # type: ignore[arg-type]  # (a body per entry: no None)
    return None


# Envelope, its list of revisions, a revision, then its body (or history).
_BODY_DEPTH = 4


def _common_revisions(items: list[Any], rows: bool = False) -> tuple[
        list[RevisionData | None], list[str], list[str], list[list[str]], list[Any]]:
    """One pass over a revs frame's entries: those of the common shape built unchecked
    (None for the rest), with their doc ids, rev ids, longer histories and bodies for
    the checks that run over all of them at once. `rows`: the peer may send rows."""
    ids: list[str] = []
    revs: list[str] = []
    long: list[list[str]] = []
    bodies: list[Any] = []
    out: list[RevisionData | None] = []  # None: not the common shape, for `one` below
    for item in items:
        # The common shape: a full body, exactly these five fields (five entries, and
        # each of the five found: no set of keys to compare); or, with `rows`, the
        # array of them.
        kind = type(item)
        if kind is dict and len(item) == 5:
            try:
                doc, history = item["doc"], item["history"]
                deleted, body, rev = item["deleted"], item["body"], item["rev"]
            except KeyError:
                out.append(None)
                continue
        elif kind is list and rows and len(item) == 5:
            doc, rev, deleted, history, body = item
        else:
            out.append(None)
            continue
        if (type(doc) is str and doc != "" and doc[0] != "_"
                and (len(doc) <= 62 or _id_shape(doc))
                and type(history) is list and history and history[0] == rev
                and (deleted is True or deleted is False) and type(body) is dict):
            ids.append(doc)
            revs += history
            if len(history) > 1:
                long.append(history)
            bodies.append(body)
            data = _new(_OpenRevisionData)  # (see trusted.open_twin)
            data.doc_id = doc
            data.rev = history[0]
            data.deleted = deleted
            data.history = tuple(history)
            data.body = body
            data.base = data.delta = data.packed = None
            data.__class__ = RevisionData
            out.append(data)
            continue
        out.append(None)  # a delta, explicit nulls, or a refusal: checked in order below
    return out, ids, revs, long, bodies


def changes(items: list[Any], one: Callable[[Any], Change]) -> tuple[Change, ...]:
    """The entries of a changes frame: [seq, doc_id, rev, deleted, leaves]."""
    got = plain_changes(items)
    return tuple(one(r) for r in items) if got is None else got


def plain_changes(items: list[Any]) -> tuple[Change, ...] | None:
    """`changes` if every entry passes the checks, else None. The checks prove an
    entry JSON-only too (an int, str ids, a bool, a list of rev ids), so it may come
    unwalked (see wire.parse_frame)."""
    ids: list[str] = []
    revs: list[str] = []
    out = []
    for row in items:
        if not (type(row) is list and len(row) == 5):
            return None
        seq, doc, rev, deleted, leaves = row
        if not (type(seq) is int and 0 <= seq <= _MAX_SEQ and _id_shape(doc)
                and (deleted is True or deleted is False) and type(leaves) is list):
            return None
        ids.append(doc)
        revs.append(rev)
        if leaves:
            revs += leaves
        # Built as checked (one pass over the rows): a refused frame wastes the entries.
        entry = _new(_OpenChange)  # (see trusted.open_twin)
        entry.seq = seq
        entry.doc_id = doc
        entry.rev = rev
        entry.deleted = deleted
        entry.leaves = tuple(leaves)
        entry.__class__ = Change
        out.append(entry)
    if not (doc_ids_ok(ids) and revs_ok(revs)):
        return None
    return tuple(out)


def proposals(items: list[Any], one: Callable[[Any], Proposal]) -> tuple[Proposal, ...]:
    """The entries of a propose frame: [doc_id, rev, ancestors...]."""
    ids: list[str] = []
    revs: list[str] = []
    for row in items:
        if not (type(row) is list and len(row) >= 2 and _id_shape(row[0])):
            return tuple(one(r) for r in items)
        ids.append(row[0])
        revs += row[1:]
    if not (doc_ids_ok(ids) and revs_ok(revs)):
        return tuple(one(r) for r in items)
    out = []
    for row in items:
        entry = _new(Proposal)
        _P_DOC(entry, row[0])
        _P_REV(entry, row[1])
        _P_HIST(entry, tuple(row[2:]))
        out.append(entry)
    return tuple(out)


def wants(items: list[Any], one: Callable[[Any], Want]) -> tuple[Want, ...]:
    """The entries of a missing frame: [doc_id, revs, ancestors]."""
    ids: list[str] = []
    revs: list[str] = []
    for row in items:
        if not (type(row) is list and len(row) == 3 and _id_shape(row[0])
                and type(row[1]) is list and row[1] and type(row[2]) is list):
            return tuple(one(r) for r in items)
        ids.append(row[0])
        revs += row[1]
        revs += row[2]
    if not (doc_ids_ok(ids) and revs_ok(revs)):
        return tuple(one(r) for r in items)
    out = []
    for doc, wanted, held in items:
        entry = _new(Want)
        _W_DOC(entry, doc)
        _W_REVS(entry, tuple(wanted))
        _W_ANC(entry, tuple(held))
        out.append(entry)
    return tuple(out)


_SEND = Answer("send")  # frozen: one instance serves every answer without ancestors
_HAVE = Answer("have")


def answers(items: list[Any], one: Callable[[Any], Answer]) -> tuple[Answer, ...]:
    """The entries of a proposed frame: ["send", ancestors] or ["have"] (a "refused",
    rarer, goes through `one`)."""
    revs: list[str] = []
    for row in items:
        if type(row) is not list:
            return tuple(one(r) for r in items)
        if len(row) == 2 and row[0] == "send" and type(row[1]) is list:
            revs += row[1]
        elif not (len(row) == 1 and row[0] == "have"):
            return tuple(one(r) for r in items)
    if not revs_ok(revs):
        return tuple(one(r) for r in items)
    out = []
    for row in items:
        if len(row) == 1:
            out.append(_HAVE)
        elif not row[1]:
            out.append(_SEND)
        else:
            entry = _new(Answer)
            _A_VERDICT(entry, "send")
            _A_ANC(entry, tuple(row[1]))
            _A_REASON(entry, "")
            out.append(entry)
    return tuple(out)
