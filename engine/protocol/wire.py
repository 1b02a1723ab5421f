"""Mapping between messages and their msgpack shape (`{"t": kind, ...}`).

`to_wire` is trusted (messages were validated when built); `parse` checks every
field of a peer's frame and raises RemoteProtocolError with one reason. Frames
with bodies already packed are encoded by `splice.encode_message`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from engine.errors import LocalProtocolError, RemoteProtocolError
from engine.protocol import batch
from engine.protocol.codec import first_fault, unpack, walk
from engine.protocol.limits import (
    Limits,
    check_bool,
    check_int,
    check_list,
    check_str,
    doc_revs,
)
from engine.protocol.messages import (
    Ack,
    Answer,
    BlobChunk,
    CaughtUp,
    Change,
    Changes,
    Error,
    GetBlob,
    Hello,
    Message,
    Missing,
    Ping,
    Pong,
    Proposal,
    Propose,
    Proposed,
    RevisionData,
    Revs,
    Subscribe,
    Want,
)


def to_wire(msg: Message) -> dict[str, Any]:
    """The msgpack-ready map for a message."""
    if isinstance(msg, Revs):
        out: dict[str, Any] = revs_head(msg)
        out["revs"] = [rev_to_wire(r) for r in msg.revs]
        if msg.gone:
            out["gone"] = [list(g) for g in msg.gone]
        return out
    if isinstance(msg, Changes):
        out = {"t": "changes", "id": msg.id, "sub": msg.sub, "last_seq": msg.last_seq,
               "changes": [[c.seq, c.doc_id, c.rev, c.deleted, list(c.leaves)]
                           for c in msg.changes]}
        if msg.inline:
            out["revs"] = [rev_to_wire(r) for r in msg.inline]
        return out
    if isinstance(msg, Missing):
        out = {"t": "missing", "re": msg.re,
               "docs": [[w.doc_id, list(w.revs), list(w.ancestors)] for w in msg.docs]}
        if msg.had:
            out["had"] = msg.had  # ("inline_bulk")
        return out
    if isinstance(msg, Propose):
        return {"t": "propose", "id": msg.id,
                "revs": [[p.doc_id, p.rev, *p.history] for p in msg.revs]}
    if isinstance(msg, Proposed):
        return {"t": "proposed", "re": msg.re, "answers": [
            ["send", list(a.ancestors)] if a.verdict == "send" else answer_to_wire(a)
            for a in msg.answers]}
    if isinstance(msg, Ack):
        out = {"t": "ack", "re": msg.re, "full": [list(f) for f in msg.full]}
        if msg.have:  # (only answering a direct frame: see direct.py)
            out["have"] = [list(h) for h in msg.have]
        if msg.refused:
            out["refused"] = [list(r) for r in msg.refused]
        return out
    if isinstance(msg, Hello):
        out = {"t": "hello", "version": list(msg.version), "peer_id": msg.peer_id,
               "db_uuid": msg.db_uuid, "features": list(msg.features),
               "read_only": msg.read_only}
        out.update({"id": msg.id} if msg.id is not None else {"re": msg.re})
        if msg.empty:
            out["empty"] = True
        return out
    if isinstance(msg, Subscribe):
        out = {"t": "subscribe", "id": msg.id, "since": msg.since, "continuous": msg.continuous}
        if msg.doc_ids is not None:
            out["doc_ids"] = list(msg.doc_ids)
        if msg.fresh:
            out["fresh"] = True
        return out
    if isinstance(msg, Error):
        out = {"t": "error", "code": msg.code, "message": msg.message}
        if msg.re is not None:
            out["re"] = msg.re
        return out
    if isinstance(msg, BlobChunk):
        return {"t": "blob_chunk", "re": msg.re, "offset": msg.offset, "data": msg.data,
                "last": msg.last}
    if isinstance(msg, GetBlob):
        return {"t": "get_blob", "id": msg.id, "digest": msg.digest, "offset": msg.offset,
                "length": msg.length}
    if isinstance(msg, CaughtUp):
        return {"t": "caught_up", "re": msg.re, "seq": msg.seq}
    if isinstance(msg, Ping):
        return {"t": "ping", "id": msg.id}
    if isinstance(msg, Pong):
        return {"t": "pong", "re": msg.re}
    raise LocalProtocolError(f"{type(msg).__name__} is not a protocol message.")


def revs_head(msg: Revs) -> dict[str, Any]:
    # A direct frame's batch is its own id: left out on the wire.
    if msg.direct:
        return {"t": "revs", "id": msg.id, "direct": True}
    return {"t": "revs", "id": msg.id, "batch": msg.batch}


def rev_to_wire(r: RevisionData) -> dict[str, Any]:
    out: dict[str, Any] = {"doc": r.doc_id, "rev": r.rev, "deleted": r.deleted,
                           "history": list(r.history)}
    if r.delta is not None:
        out["base"] = r.base
        out["delta"] = r.delta
    elif r.packed is not None:
        out["body"] = msgpack.unpackb(r.packed, raw=False)  # (fast path: splice)
    else:
        out["body"] = r.body
    return out


def answer_to_wire(a: Answer) -> list[Any]:
    if a.verdict == "send":
        return ["send", list(a.ancestors)]
    if a.verdict == "refused":
        return ["refused", a.reason]
    return ["have"]


def parse_frame(frame: bytes, limits: Limits, rows: bool = False) -> Message:
    """`parse(decode(frame, limits), rows)`: the same message, or the same refusal.

    A revs or changes frame carries thousands of entries, which parsing checks one by
    one anyway; when all of them pass checks that also prove them JSON-only, only the
    rest of the frame and the bodies are walked, the entries not. Otherwise (a delta,
    anything odd or wrong) the frame takes the usual path: walk all, then parse."""
    wire = unpack(frame, limits)
    kind = wire.get("t")
    if kind == "revs" or kind == "changes":
        msg = _quick(wire, kind, limits.max_depth, rows)
        if msg is not None:
            return msg
    walk(wire, limits.max_depth)
    return parse(wire, rows)


def _quick(wire: dict[str, Any], kind: str, max_depth: int, rows: bool) -> Message | None:
    """The message of a revs or changes frame whose entries all pass the batch checks
    (None: take the usual path, which then says what is wrong, as before)."""
    revs_items = wire.get("revs")
    if kind == "revs":
        if type(revs_items) is not list or first_fault(
                [{**wire, "revs": []}], 1, max_depth) is not None:
            return None
        revs = batch.full_revisions(revs_items, max_depth, rows)
        return None if revs is None else _parse(
            kind, lambda w: _parse_revs(w, revs), wire)
    items = wire.get("changes")
    if type(items) is not list or revs_items is not None and type(revs_items) is not list:
        return None
    if first_fault([{**wire, "changes": [], "revs": []}], 1, max_depth) is not None:
        return None
    entries = batch.plain_changes(items)
    if entries is None:
        return None
    inline = () if revs_items is None else batch.full_revisions(revs_items, max_depth, rows)
    if inline is None:
        return None
    return _parse(kind, lambda w: _parse_changes(w, entries, inline), wire)


def parse(wire: dict[str, Any], rows: bool = False) -> Message:
    """Turn a decoded frame into a message, or raise RemoteProtocolError. `rows`: the
    `rows` feature was agreed, so a revision may come as an array (see splice.py)."""
    kind = wire.get("t")
    parser = PARSERS.get(kind) if isinstance(kind, str) else None
    if parser is None or not isinstance(kind, str):
        raise RemoteProtocolError(f"The peer sent a frame of unknown kind {kind!r:.40}.")
    if rows and kind == "revs":
        return _parse(kind, lambda w: _parse_revs(w, rows=True), wire)
    if rows and kind == "changes":
        return _parse(kind, lambda w: _parse_changes(w, rows=True), wire)
    return _parse(kind, parser, wire)


def _parse(kind: str, parser: Callable[[dict[str, Any]], Message], wire: dict[str, Any]
           ) -> Message:
    try:
        return parser(wire)
    except KeyError as err:
        raise RemoteProtocolError(f"The peer sent a {kind} frame without field {err}.") from err
    except (LocalProtocolError, ValueError, TypeError) as err:
        raise RemoteProtocolError(f"The peer sent a bad {kind} frame: {err}") from err


def _opt(wire: dict[str, Any], key: str) -> int | None:
    value = wire.get(key)
    return None if value is None else check_int(value, key)


def _parse_hello(w: dict[str, Any]) -> Hello:
    version = check_list(w["version"], "version")
    if len(version) != 2:
        raise ValueError("version must be [major, minor].")
    return Hello(peer_id=w["peer_id"], db_uuid=w["db_uuid"],
                 features=tuple(check_list(w.get("features", []), "features")),
                 read_only=w.get("read_only", False),
                 version=(version[0], version[1]), id=_opt(w, "id"), re=_opt(w, "re"),
                 empty=w.get("empty", False))


def _parse_subscribe(w: dict[str, Any]) -> Subscribe:
    ids = w.get("doc_ids")
    return Subscribe(id=w["id"], since=w.get("since", 0), continuous=w.get("continuous", False),
                     doc_ids=None if ids is None else tuple(check_list(ids, "doc_ids")),
                     fresh=w.get("fresh", False))


def _parse_change(item: object) -> Change:
    row = check_list(item, "changes")
    if len(row) != 5:
        raise ValueError("A change entry is [seq, doc_id, rev, deleted, leaves].")
    return Change(row[0], row[1], row[2], row[3], tuple(check_list(row[4], "leaves")))


def _parse_changes(w: dict[str, Any], entries: tuple[Change, ...] | None = None,
                   parsed: tuple[RevisionData, ...] | None = None, rows: bool = False
                   ) -> Changes:
    """(`entries`, `parsed`: the frame's changes and revs, already parsed by `_quick`.)"""
    inline = w.get("revs")  # the "inline" feature; Connection checks it was agreed
    return Changes(id=w["id"], sub=w["sub"], last_seq=w["last_seq"],
                   changes=batch.changes(check_list(w["changes"], "changes"), _parse_change)
                   if entries is None else entries,
                   inline=parsed if parsed is not None else () if inline is None else
                   batch.revisions(check_list(inline, "revs"), _ONE[rows], rows))


def _parse_want(item: object) -> Want:
    row = check_list(item, "docs")
    if len(row) != 3:
        raise ValueError("A missing entry is [doc_id, revs, ancestors].")
    # Want checks each rev on construction; checking here too would do it twice.
    return Want(row[0], tuple(check_list(row[1], "revs")), tuple(check_list(row[2], "ancestors")))


def _parse_proposal(item: object) -> Proposal:
    row = check_list(item, "revs")
    if len(row) < 2:
        raise ValueError("A proposal is [doc_id, rev, ancestors...].")
    return Proposal(row[0], row[1], tuple(row[2:]))


def _parse_answer(item: object) -> Answer:
    row = check_list(item, "answers")
    if not row or not isinstance(row[0], str):
        raise ValueError("An answer is [verdict, ...].")
    if row[0] == "send" and len(row) == 2:
        return Answer("send", tuple(check_list(row[1], "ancestors")))  # Answer checks them
    if row[0] == "refused" and len(row) == 2:
        return Answer("refused", reason=check_str(row[1], "reason"))
    if row[0] == "have" and len(row) == 1:
        return Answer("have")
    raise ValueError("An answer is [\"send\", ancestors], [\"have\"] or [\"refused\", reason].")


_REV_FIELDS = frozenset({"doc", "rev", "deleted", "history", "body", "base", "delta"})


def _parse_rev(item: object) -> RevisionData:
    # Hot path (every revision pulled or pushed): RevisionData checks the values.
    if type(item) is not dict:
        raise ValueError("Each revision must be a map.")
    if not item.keys() <= _REV_FIELDS:
        raise ValueError(f"A revision has unknown fields {sorted(item.keys() - _REV_FIELDS)}.")
    history = item["history"]
    if type(history) is not list:
        raise ValueError("The field history must be an array.")
    return RevisionData(item["doc"], item["rev"], check_bool(item["deleted"], "deleted"),
                        tuple(history), item.get("body"), item.get("base"), item.get("delta"))


def _parse_row(item: object) -> RevisionData:
    """A revision as a row (feature `rows`): [doc, rev, deleted, history, body]."""
    if type(item) is not list:
        return _parse_rev(item)  # (a delta is a map, rows or not)
    if len(item) != 5:
        raise ValueError("A revision row is [doc, rev, deleted, history, body].")
    doc, rev, deleted, history, body = item
    if type(history) is not list:
        raise ValueError("The field history must be an array.")
    if type(body) is not dict:
        raise ValueError("A revision row's body must be a map.")
    return RevisionData(doc, rev, check_bool(deleted, "deleted"), tuple(history), body)


_ONE = {False: _parse_rev, True: _parse_row}  # one entry, by whether rows were agreed


def _parse_revs(w: dict[str, Any], parsed: tuple[RevisionData, ...] | None = None,
                rows: bool = False) -> Revs:
    """(`parsed`: the frame's revisions, already parsed by `_quick`.)"""
    direct = check_bool(w.get("direct", False), "direct")  # Connection checks it was agreed
    if direct and ("batch" in w or "gone" in w):
        raise ValueError("A direct revs frame has no batch and no gone.")
    return Revs(id=w["id"], batch=w["id"] if direct else w["batch"],
                revs=batch.revisions(check_list(w["revs"], "revs"), _ONE[rows], rows)
                if parsed is None else parsed,
                gone=doc_revs(w.get("gone", []), "gone"), direct=direct)


def _parse_ack(w: dict[str, Any]) -> Ack:
    refused = []
    for item in check_list(w.get("refused", []), "refused"):
        row = check_list(item, "refused")
        if len(row) != 3:
            raise ValueError("A refused entry is [doc_id, rev, reason].")
        refused.append((row[0], row[1], row[2]))  # Ack checks each value
    return Ack(re=w["re"], full=doc_revs(w.get("full", []), "full"),
               have=doc_revs(w.get("have", []), "have"), refused=tuple(refused))


PARSERS: dict[str, Callable[[dict[str, Any]], Message]] = {
    "hello": _parse_hello,
    "subscribe": _parse_subscribe,
    "changes": _parse_changes,
    "caught_up": lambda w: CaughtUp(re=w["re"], seq=w["seq"]),
    "missing": lambda w: Missing(re=w["re"], docs=batch.wants(
        check_list(w.get("docs", []), "docs"), _parse_want), had=w.get("had", 0)),
    "propose": lambda w: Propose(id=w["id"], revs=batch.proposals(
        check_list(w["revs"], "revs"), _parse_proposal)),
    "proposed": lambda w: Proposed(re=w["re"], answers=batch.answers(
        check_list(w["answers"], "answers"), _parse_answer)),
    "revs": _parse_revs,
    "ack": _parse_ack,
    "get_blob": lambda w: GetBlob(id=w["id"], digest=w["digest"], offset=w.get("offset", 0),
                                  length=w["length"]),
    "blob_chunk": lambda w: BlobChunk(re=w["re"], offset=w["offset"], data=w["data"],
                                      last=w["last"]),
    "ping": lambda w: Ping(id=w["id"]),
    "pong": lambda w: Pong(re=w["re"]),
    "error": lambda w: Error(code=w["code"], message=w["message"], re=_opt(w, "re")),
}
