"""Frames of many entries are checked in bulk: the same messages as entry by entry,
and every bad entry, wherever it sits among good ones, refused with its own reason."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import RemoteProtocolError
from engine.protocol import (
    Answer,
    Change,
    Changes,
    Missing,
    Proposal,
    RevisionData,
    Subscribe,
    Want,
    encode,
    parse,
)
from tests.protocol.pair import ConnectionPair

R = [f"{g}-{c * 32}" for g, c in ((1, "a"), (2, "b"), (3, "c"), (4, "d"))]


def _rev(doc: str, history: list[str], **more: Any) -> dict[str, Any]:
    return {"doc": doc, "rev": history[0], "deleted": False, "history": history,
            "body": {"n": 1}, **more}


def _revs_frame(entries: list[Any]) -> dict[str, Any]:
    return {"t": "revs", "id": 9, "batch": 2, "revs": entries}


def _good_revs(n: int) -> list[Any]:
    return [_rev(f"doc-{i}", [R[0]]) for i in range(n)]


def test_bulk_parsed_revisions_equal_those_built_one_by_one() -> None:
    long_id = "é" * 125  # 250 UTF-8 bytes: over the 62-character shortcut, still valid
    entries = [
        _rev("a", [R[0]]),
        _rev(long_id, [R[3], R[2], R[1], R[0]]),
        {"doc": "c", "rev": R[1], "deleted": True, "history": [R[1], R[0]], "body": {}},
        {"doc": "d", "rev": R[2], "deleted": False, "history": [R[2], R[1]], "base": R[1],
         "delta": {"n": 2}},
        _rev("e", [R[0]], delta=None, base=None),  # explicit nulls mean absent
    ]
    msg = parse(_revs_frame(entries))
    assert msg.revs == (
        RevisionData("a", R[0], False, (R[0],), body={"n": 1}),
        RevisionData(long_id, R[3], False, tuple(reversed(R)), body={"n": 1}),
        RevisionData("c", R[1], True, (R[1], R[0]), body={}),
        RevisionData("d", R[2], False, (R[2], R[1]), base=R[1], delta={"n": 2}),
        RevisionData("e", R[0], False, (R[0],), body={"n": 1}),
    )


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (_rev("a\x00b", [R[0]]), "control characters"),
        (_rev("_local", [R[0]]), "reserved"),
        (_rev("", [R[0]]), "1 to 250 UTF-8 bytes"),
        (_rev("é" * 126, [R[0]]), "1 to 250 UTF-8 bytes"),
        (_rev("a", [R[0] + "," + R[0]]), "not a revision id"),  # two ids in one string
        (_rev("a", [R[1], R[1]]), "count down"),
        (_rev("a", [R[1], 7]), "not a revision id"),
        (_rev("a", [R[0]], x=1), "unknown fields"),
        ({**_rev("a", [R[0]]), "deleted": 0}, "true or false"),
        ({**_rev("a", [R[0]]), "history": [R[1]]}, "history must start"),
        ({"doc": "a", "rev": R[1], "deleted": False, "history": [R[1], R[0]], "base": R[2],
          "delta": {}}, "base in the history"),
        ([1, 2], "must be a map"),
    ],
)
def test_a_bad_revision_among_good_ones_is_refused(bad: Any, reason: str) -> None:
    entries = _good_revs(60)
    entries.insert(30, bad)
    with pytest.raises(RemoteProtocolError, match=reason):
        parse(_revs_frame(entries))


def test_the_first_bad_entry_gives_the_reason() -> None:
    entries = _good_revs(10)
    entries[3] = _rev("a", [R[1], R[1]])  # caught by the bulk pass
    entries[6] = _rev("a", [R[0]], x=1)  # caught entry by entry
    with pytest.raises(RemoteProtocolError, match="count down"):
        parse(_revs_frame(entries))


def test_bulk_parsed_changes_equal_those_built_one_by_one() -> None:
    rows = [[i + 1, f"doc-{i}", R[1], i % 2 == 0, [R[2]] if i == 3 else []] for i in range(8)]
    msg = parse({"t": "changes", "id": 4, "sub": 2, "last_seq": 8, "changes": rows})
    assert msg.changes == tuple(Change(s, d, r, x, tuple(leaves)) for s, d, r, x, leaves in rows)


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ([5, "a\x7f", R[0], False, []], "control characters"),
        ([5, "a", R[0] + "," + R[0], False, []], "not a revision id"),
        ([5, "a", R[0], False, ["1-zz"]], "not a revision id"),
        ([-1, "a", R[0], False, []], "seq must be an integer"),
        ([5, "a", R[0], "no", []], "true or false"),
        ([5, "a", R[0], False], r"\[seq, doc_id, rev, deleted, leaves\]"),
    ],
)
def test_a_bad_change_among_good_ones_is_refused(bad: Any, reason: str) -> None:
    rows: list[Any] = [[i + 1, f"doc-{i}", R[0], False, []] for i in range(40)]
    rows.insert(20, bad)
    with pytest.raises(RemoteProtocolError, match=reason):
        parse({"t": "changes", "id": 4, "sub": 2, "last_seq": 41, "changes": rows})


def test_bulk_parsed_proposals_equal_those_built_one_by_one() -> None:
    rows = [["a", R[0]], ["b", R[2], R[1], R[0]]]
    msg = parse({"t": "propose", "id": 3, "revs": rows})
    assert msg.revs == (Proposal("a", R[0]), Proposal("b", R[2], (R[1], R[0])))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (["_x", R[0]], "reserved"),
        (["a\nb", R[0]], "control characters"),
        (["a", R[0] + "," + R[0]], "not a revision id"),
        (["a", R[1], "2-x"], "not a revision id"),
        (["a"], r"\[doc_id, rev, ancestors\.\.\.\]"),
    ],
)
def test_a_bad_proposal_among_good_ones_is_refused(bad: Any, reason: str) -> None:
    rows: list[Any] = [[f"doc-{i}", R[0]] for i in range(40)]
    rows.insert(20, bad)
    with pytest.raises(RemoteProtocolError, match=reason):
        parse({"t": "propose", "id": 3, "revs": rows})


def test_bulk_parsed_wants_equal_those_built_one_by_one() -> None:
    rows = [["a", [R[0]], []], ["b", [R[2], R[3]], [R[1]]]]
    msg = parse({"t": "missing", "re": 3, "docs": rows})
    assert msg.docs == (Want("a", (R[0],)), Want("b", (R[2], R[3]), (R[1],)))


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (["a\x01", [R[0]], []], "control characters"),
        (["a", [], []], "at least one revision"),
        (["a", [R[0]], ["3-q"]], "not a revision id"),
        (["a", [R[0] + "," + R[0]], []], "not a revision id"),
        (["a", [R[0]]], r"\[doc_id, revs, ancestors\]"),
    ],
)
def test_a_bad_want_among_good_ones_is_refused(bad: Any, reason: str) -> None:
    rows: list[Any] = [[f"doc-{i}", [R[0]], []] for i in range(40)]
    rows.insert(20, bad)
    with pytest.raises(RemoteProtocolError, match=reason):
        parse({"t": "missing", "re": 3, "docs": rows})


def _asked_for(pair: ConnectionPair, n: int) -> int:
    """A pull where the client asked for doc-0..doc-<n-1> at R[0]; returns the batch."""
    pair.handshake()
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub))
    cid = pair.server.new_id()
    pair.send(pair.server, Changes(cid, sub, tuple(Change(i + 1, f"doc-{i}", R[0], False)
                                                   for i in range(n)), n))
    pair.send(pair.client, Missing(cid, tuple(Want(f"doc-{i}", (R[0],)) for i in range(n))))
    return cid


@pytest.mark.parametrize(
    ("revs", "gone", "reason"),
    [
        ([0, 1, 1], [], "doc-1'? was not requested"),  # the same revision twice
        ([0, 1], [1], "doc-1'? was not requested"),  # sent and said to be gone
        ([0], [2, 2], "doc-2'? was not requested"),
        ([0, 9], [], "doc-9'? was not requested"),
        ([0], [9], "doc-9'? was not requested"),
    ],
)
def test_a_revs_frame_may_carry_each_owed_revision_once(revs: list[int], gone: list[int],
                                                        reason: str) -> None:
    pair = ConnectionPair()
    cid = _asked_for(pair, 5)
    frame = encode({"t": "revs", "id": 99, "batch": cid,
                    "revs": [_rev(f"doc-{i}", [R[0]]) for i in revs],
                    "gone": [[f"doc-{i}", R[0]] for i in gone]})
    with pytest.raises(RemoteProtocolError, match=reason):
        pair.client.receive(frame)


def test_owed_revisions_are_counted_off_across_frames() -> None:
    pair = ConnectionPair()
    cid = _asked_for(pair, 5)
    first = encode({"t": "revs", "id": 98, "batch": cid,
                    "revs": [_rev(f"doc-{i}", [R[0]]) for i in (0, 1)],
                    "gone": [["doc-4", R[0]]]})
    pair.client.receive(first)
    assert pair.client.expected(cid) == {("doc-2", R[0]), ("doc-3", R[0])}
    again = encode({"t": "revs", "id": 99, "batch": cid, "revs": [_rev("doc-1", [R[0]])]})
    with pytest.raises(RemoteProtocolError, match="not requested"):
        pair.client.receive(again)


def test_bulk_parsed_answers_equal_those_built_one_by_one() -> None:
    rows = [["send", []], ["have"], ["send", [R[1], R[0]]]]
    assert parse({"t": "proposed", "re": 3, "answers": rows}).answers == (
        Answer("send"), Answer("have"), Answer("send", (R[1], R[0])))
    with_refusal = [*rows, ["refused", "no room"]]
    assert parse({"t": "proposed", "re": 3, "answers": with_refusal}).answers[-1] == Answer(
        "refused", reason="no room")


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (["send", ["1-x"]], "not a revision id"),
        (["send", [R[0] + "," + R[0]]], "not a revision id"),
        (["send"], "An answer is"),
        (["have", 1], "An answer is"),
        (["maybe"], "An answer is"),
        ("send", "must be an array"),
    ],
)
def test_a_bad_answer_among_good_ones_is_refused(bad: Any, reason: str) -> None:
    rows: list[Any] = [["send", []] for _ in range(40)]
    rows.insert(20, bad)
    with pytest.raises(RemoteProtocolError, match=reason):
        parse({"t": "proposed", "re": 3, "answers": rows})
