"""The quick ways of building and encoding entries give exactly the slow ways' results."""

from __future__ import annotations

import pytest

from engine.protocol import Answer, Proposed, RevisionData, encode
from engine.protocol.splice import encode_message
from engine.protocol.trusted import slot_setters
from engine.protocol.wire import to_wire
from tests.protocol.pair import ConnectionPair
from tests.protocol.test_batch import R, _asked_for, _rev


@pytest.mark.parametrize("count", [0, 1, 15, 16, 65535, 65536])
def test_a_proposed_frame_is_byte_for_byte_the_generic_encoding(count: int) -> None:
    kinds = [Answer("send"), Answer("have"), Answer("send", (R[1], R[0])),
             Answer("refused", reason="no room")]
    msg = Proposed(7, tuple(kinds[i % 4] for i in range(count)))
    assert encode_message(msg) == encode(to_wire(msg))


def test_slot_setters_must_cover_every_field() -> None:
    with pytest.raises(TypeError, match="fields"):
        slot_setters(RevisionData, "doc_id", "rev", "deleted", "history", "body")
    setters = slot_setters(Answer, "verdict", "ancestors", "reason")
    built = object.__new__(Answer)
    for setter, value in zip(setters, ("send", (R[0],), ""), strict=True):
        setter(built, value)
    assert built == Answer("send", (R[0],))


def test_a_received_frames_keys_are_known_until_it_is_acked() -> None:
    pair = ConnectionPair()
    cid = _asked_for(pair, 3)
    frame = encode({"t": "revs", "id": 50, "batch": cid,
                    "revs": [_rev(f"doc-{i}", [R[0]]) for i in (0, 2)]})
    pair.client.receive(frame)
    assert pair.client.received_keys(50) == {("doc-0", R[0]), ("doc-2", R[0])}
    assert pair.client.received_keys(51) == frozenset()


def test_entries_built_as_open_twins_equal_those_built_checked() -> None:
    from engine.protocol import Change
    from engine.protocol.trusted import _OpenChange, _OpenRevisionData, open_twin

    data = object.__new__(_OpenRevisionData)
    data.doc_id, data.rev, data.deleted, data.history = "doc", R[1], False, (R[1], R[0])
    data.body, data.base, data.delta, data.packed = {"n": 1}, None, None, None
    data.__class__ = RevisionData
    assert data == RevisionData("doc", R[1], False, (R[1], R[0]), {"n": 1})
    assert type(data) is RevisionData
    with pytest.raises(AttributeError):
        data.rev = R[0]  # frozen again, as any RevisionData
    entry = object.__new__(_OpenChange)
    entry.seq, entry.doc_id, entry.rev, entry.deleted, entry.leaves = 3, "doc", R[0], True, ()
    entry.__class__ = Change
    assert entry == Change(3, "doc", R[0], True, ())
    with pytest.raises(TypeError, match="slotted"):
        open_twin(ConnectionPair)  # no slots: nothing to share a layout with
