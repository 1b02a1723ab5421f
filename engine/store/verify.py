"""Checks on what peers send, made fast for batches of thousands: does a rev id
name its body (`matches`), are these doc ids and rev ids well formed (in bulk).

Each gives exactly the answer of the reference in `revs` (make_rev_id,
check_doc_id, generation); the shortcuts only decide how much work that takes.
"""

from __future__ import annotations

import re
from hashlib import sha256
from typing import Any

from engine.store import revs

# Bytes that JSON would escape inside a string (UTF-8 multi-byte sequences have none).
_ESCAPED = bytes(range(32)) + b'"\\'


def matches(rev: str, parent: str | None, deleted: bool, body: dict[str, Any]) -> bool:
    """Does `rev` name this body on top of `parent` (revs.make_rev_id)? Both ids are
    well formed and the history counts down (checked by the caller or by
    engine.protocol), so only the digest part of `rev` is left to compare."""
    text = _flat_canonical(parent or "", deleted, body)
    if text is None:
        try:
            text = revs.canonical(parent, deleted, body)
        except ValueError:  # NaN and the like: the reference formula refuses them too
            text = None
    if text is not None and rev[rev.index("-") + 1:] == sha256(text).hexdigest()[:32]:
        return True
    # The reference formula has the last word (this path is for mismatches only).
    return revs.make_rev_id(parent, deleted, body) == rev


def _flat_canonical(parent: str, deleted: bool, body: dict[str, Any]) -> bytes | None:
    """revs.canonical for a body of strings, ints, booleans and nulls with nothing to
    escape (None for anything else). json's C encoder scans each string character by
    character for escapes; here one bytes.translate over all the text does (a 1 KB
    body: ~1.5 us less)."""
    if type(deleted) is not bool:
        return None
    out = [b'["', parent.encode(), b'",true,{' if deleted else b'",false,{']
    texts = []
    first = True
    try:
        for key in sorted(body):
            if type(key) is not str:
                return None
            value = body[key]
            kind = type(value)
            name = key.encode()
            texts.append(name)
            if kind is str:
                text = value.encode()
                texts.append(text)
                out += (b'"' if first else b',"', name, b'":"', text, b'"')
            elif kind is int:
                out += (b'"' if first else b',"', name, b'":', b"%d" % value)
            elif kind is bool or value is None:
                out += (b'"' if first else b',"', name,
                        b'":true' if value is True else b'":false' if value is False
                        else b'":null')
            else:
                return None
            first = False
    except (UnicodeEncodeError, TypeError):  # a surrogate; a key that is not a string
        return None
    checked = b"".join(texts)
    if len(checked.translate(None, _ESCAPED)) != len(checked):
        return None
    out.append(b"}]")
    return b"".join(out)


# Rev ids each followed by a comma, which no rev id holds: one regex pass checks them all.
_REVS_RE = re.compile(r"(?:[1-9][0-9]{0,8}-[0-9a-f]{32},)*\Z")
_BAD_ID_CHAR = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def check_revs(rev_ids: list[str]) -> None:
    """`revs.generation` of each (InvalidIdError for the first bad one), in bulk."""
    try:
        joined = ",".join(rev_ids)
    except TypeError:
        joined = ""
    if joined.count(",") != len(rev_ids) - 1 or not _REVS_RE.match(joined + ","):
        for rev in rev_ids:
            revs.generation(rev)


def check_doc_ids(ids: list[str]) -> None:
    """`revs.check_doc_id` of each (InvalidIdError for the first bad one), in bulk: a
    few C-level passes over them all, and one at a time only if something looks off."""
    if not ids:
        return
    try:
        joined = "/" + "/".join(ids) + "/"
    except TypeError:
        joined = "//"
    # 62 characters fit in 250 UTF-8 bytes; "//" is an empty id, "/_" a reserved one
    # (or a "/_" inside an id: then the exact check below says it is fine).
    if (max(map(len, ids)) > 62 or "//" in joined or "/_" in joined
            or _BAD_ID_CHAR.search(joined)):
        for doc_id in ids:
            revs.check_doc_id(doc_id)
