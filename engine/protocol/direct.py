"""Direct pushes: a client's small revisions sent without proposing them first.

With the `direct` feature in both hellos, a client may send a `revs` frame marked
`direct` (and carrying no batch): full bodies of revisions the server was never
asked about. The server stores those it lacks and answers with an `ack` that
names each revision it did not store and why (`have`: it already held it;
`refused`: with a reason), so one round trip replaces propose -> proposed ->
revs -> ack. These are the rules both sides check (see PROTOCOL.md, "Push").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.protocol.messages import DocRev, RevisionData

DIRECT_FEATURE = "direct"


def check_direct(revs: tuple[RevisionData, ...]) -> frozenset[DocRev]:
    """The frame's keys; ValueError unless every revision is a full body (the server
    named no ancestor a delta could use) and none comes twice."""
    keys = frozenset([(r.doc_id, r.rev) for r in revs])
    if len(keys) != len(revs):
        raise ValueError("A direct revs frame carries each revision at most once.")
    if any(r.delta is not None for r in revs):
        raise ValueError("A direct revision carries a full body, not a delta.")
    return keys


def check_outcomes(have: tuple[DocRev, ...], refused: tuple[tuple[str, str, str], ...],
                   sent: frozenset[DocRev]) -> None:
    """ValueError unless `have` and `refused` name revisions of the acked frame,
    each at most once in all."""
    named = [*have, *((doc, rev) for doc, rev, _ in refused)]
    if len(set(named)) != len(named):
        raise ValueError("An ack names a revision more than once in have and refused.")
    if not sent.issuperset(named):
        raise ValueError("An ack names a revision in have or refused that its frame did "
                         "not carry.")
