"""Frames built around bodies already packed, and the `rows` feature.

`encode_message` gives `encode(to_wire(msg))`'s frame, except that the bodies of
revisions our store packed go in as they are (no decoding and re-encoding), and
common answers as constant bytes. With the `rows` feature agreed (both hellos), a
full-body revision goes as the array `[doc, rev, deleted, history, body]` instead
of a map with those keys: the receiver's decoder then makes no map and no five key
strings per revision, and its parser looks up no keys (see PROTOCOL.md).
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import Any

import msgpack

from engine.protocol.codec import encode
from engine.protocol.messages import Changes, Message, Proposed, RevisionData, Revs
from engine.protocol.wire import answer_to_wire, rev_to_wire, revs_head, to_wire

ROWS_FEATURE = "rows"


def encode_message(msg: Message, rows: bool = False) -> bytes:
    """The frame for a message; `rows`: the peer takes revisions as rows."""
    if isinstance(msg, Changes) and msg.inline:
        return _encode_inline_changes(msg, rows)
    if isinstance(msg, Proposed):
        return _encode_proposed(msg)
    if not isinstance(msg, Revs) or all(r.packed is None for r in msg.revs):
        return encode(to_wire(msg))
    head = revs_head(msg)
    if msg.gone:
        head["gone"] = [list(g) for g in msg.gone]
    pack = msgpack.Packer(use_bin_type=True).pack  # one per frame, not one per revision
    # A map of fewer than 16 pairs starts with one byte, 0x80 + count: room to add a pair.
    parts = [bytes([0x80 + len(head) + 1]), pack(head)[1:], b"\xa4revs",
             _array_head(len(msg.revs))]
    _splice(parts, msg.revs, pack, rows)
    return b"".join(parts)


def _encode_inline_changes(msg: Changes, rows: bool) -> bytes:
    """A changes frame with inline revisions, their packed bodies spliced in as in revs."""
    wire = to_wire(dataclasses.replace(msg, inline=()))
    pack = msgpack.Packer(use_bin_type=True).pack  # one per frame, not one per revision
    head = pack(wire)
    # The envelope has fewer than 16 pairs (a fixmap): one more for "revs".
    parts = [bytes([head[0] + 1]), head[1:], b"\xa4revs", _array_head(len(msg.inline))]
    _splice(parts, msg.inline, pack, rows)
    return b"".join(parts)


def _splice(parts: list[bytes], revs: tuple[RevisionData, ...],
            pack: Callable[[Any], bytes], rows: bool) -> None:
    for r in revs:
        if r.packed is None:
            parts.append(pack(rev_to_wire(r)))  # (a delta, or a body not packed: a map)
        elif rows:
            # [doc, rev, deleted, history] packed, its array head made room for the body.
            meta = pack([r.doc_id, r.rev, r.deleted, list(r.history)])
            parts += (b"\x95", meta[1:], r.packed)
        else:
            meta = pack({"doc": r.doc_id, "rev": r.rev, "deleted": r.deleted,
                         "history": list(r.history)})
            parts += (b"\x85", meta[1:], b"\xa4body", r.packed)


# The two answers nearly every proposal gets, as msgpack: ["send", []] and ["have"].
_SEND_NOTHING = b"\x92\xa4send\x90"
_HAVE = b"\x91\xa4have"


def _encode_proposed(msg: Proposed) -> bytes:
    """`encode(to_wire(msg))`, with the common answers spliced in as constant bytes (a
    1000-answer frame: two lists built and packed per answer otherwise)."""
    packb = msgpack.packb
    parts = [packb({"t": "proposed", "re": msg.re, "answers": []}, use_bin_type=True)[:-1],
             _array_head(len(msg.answers))]
    for a in msg.answers:
        if a.verdict == "send" and not a.ancestors:
            parts.append(_SEND_NOTHING)
        elif a.verdict == "have":
            parts.append(_HAVE)
        else:
            parts.append(packb(answer_to_wire(a), use_bin_type=True))
    return b"".join(parts)


def _array_head(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 + n])
    return b"\xdc" + struct.pack(">H", n) if n < 65536 else b"\xdd" + struct.pack(">I", n)
