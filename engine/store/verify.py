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
from engine.store.canon import encoded_canonical, flat_canonical


def matches(rev: str, parent: str | None, deleted: bool, body: dict[str, Any]) -> bool:
    """Does `rev` name this body on top of `parent` (revs.make_rev_id)? Both ids are
    well formed and the history counts down (checked by the caller or by
    engine.protocol), so only the digest part of `rev` is left to compare."""
    text = flat_canonical(parent or "", deleted, body)
    if text is None:
        try:
            text = encoded_canonical(parent, deleted, body)
        except ValueError:  # NaN and the like: the reference formula refuses them too
            text = None
    if text is not None and rev[rev.index("-") + 1:] == sha256(text).hexdigest()[:32]:
        return True
    # The reference formula has the last word (this path is for mismatches only).
    return revs.make_rev_id(parent, deleted, body) == rev


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
