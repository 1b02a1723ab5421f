"""Inline revisions: small live changes carried in the `changes` frame itself.

With the `inline` feature (listed in the client's hello) a server may add a
`revs` list to a `changes` frame: full bodies of revisions that frame names. A
client that can store them skips the missing/revs round trip, which is most of
a live edit's latency; one that cannot simply asks for them as usual. With
`inline_bulk` too, bulk frames may carry them (a one-shot pull then costs one
frame per batch instead of four). These are the rules both sides check (see
PROTOCOL.md, "Inline revisions").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.errors import ProtocolError

if TYPE_CHECKING:
    from engine.protocol.messages import Change, RevisionData

INLINE_FEATURE = "inline"
# A changes frame that carries revs is at most this big: inline bodies are for small
# live edits, handled on the receiver's feed path before it answers the frame.
MAX_INLINE_FRAME = 64 * 1024
# "inline_bulk" (with "inline"): the client also takes revs in a bulk changes frame,
# up to the size of a revs frame (half the default frame limit), and says in each
# missing answer how many it already held (`had`), so the server can stop wasting bytes.
INLINE_BULK_FEATURE = "inline_bulk"
MAX_BULK_INLINE_FRAME = 2 * 1024 * 1024


def check_inline(changes: tuple[Change, ...], inline: tuple[RevisionData, ...]) -> None:
    """ValueError unless each inline revision is a full body (not a delta) of a
    revision its frame names (a winner or another leaf), and none comes twice."""
    if _winners_in_order(changes, inline):
        return
    named = {(c.doc_id, rev) for c in changes for rev in (c.rev, *c.leaves)}
    seen: set[tuple[str, str]] = set()
    for r in inline:
        if r.delta is not None:
            raise ValueError("An inline revision carries a full body, not a delta.")
        key = (r.doc_id, r.rev)
        if key not in named:
            raise ValueError(f"The inline revision {r.rev} of {r.doc_id!r:.40} is not "
                             "named by its changes frame.")
        if key in seen:
            raise ValueError(f"The inline revision {r.rev} of {r.doc_id!r:.40} comes twice.")
        seen.add(key)


def _winners_in_order(changes: tuple[Change, ...], inline: tuple[RevisionData, ...]) -> bool:
    """The common shape, checked in one pass (a bulk frame's thousand revisions): full
    bodies of winners, in the order of their entries, each document once. False
    leaves the verdict (and the reason) to the full check."""
    entries = iter(changes)
    for r in inline:
        if r.delta is not None:
            return False
        for c in entries:
            if c.doc_id == r.doc_id:
                if c.rev != r.rev:
                    return False
                break
        else:
            return False
    return len({r.doc_id for r in inline}) == len(inline)


def entry_bound(change: Change) -> int:
    """Most bytes one change entry takes in msgpack (a UTF-8 character is at most 4
    bytes, a rev id at most 42 characters), so a sender can stay under the cap
    without encoding the frame twice."""
    return 20 + 4 * len(change.doc_id) + 48 * (1 + len(change.leaves))


def revision_bound(doc_id: str, history_len: int, body_bytes: int) -> int:
    """Most bytes one inline revision takes: field names, ids, history, the body."""
    return 64 + 4 * len(doc_id) + 48 * (1 + history_len) + body_bytes


ENVELOPE_BOUND = 128  # t, id, sub, last_seq and the array headers of a changes frame


def inline_frame_limit(client_features: frozenset[str]) -> int:
    """The most bytes a changes frame carrying revs may take on this connection."""
    return MAX_BULK_INLINE_FRAME if INLINE_BULK_FEATURE in client_features else MAX_INLINE_FRAME


def check_inline_frame(size: int, err: type[ProtocolError], limit: int = MAX_INLINE_FRAME
                       ) -> None:
    """A changes frame carrying revs must stay within `limit` bytes."""
    if size > limit:
        raise err(f"A {size}-byte changes frame carries revs; with revs the limit is "
                  f"{limit} bytes.")
