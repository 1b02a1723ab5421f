"""The `inline` feature: revisions carried in a changes frame, and its rules."""

from __future__ import annotations

import msgpack
import pytest

from engine.errors import LocalProtocolError, RemoteProtocolError
from engine.protocol import (
    Change,
    Changes,
    Connection,
    Hello,
    Missing,
    RevisionData,
    Role,
    State,
    Subscribe,
    decode,
    encode,
    parse,
    to_wire,
    trusted,
)
from engine.protocol.inline import MAX_BULK_INLINE_FRAME, MAX_INLINE_FRAME
from tests.protocol.pair import R1, R2, R2X, ConnectionPair


def _pair(client_features: tuple[str, ...] = ("deltas", "blobs", "inline")) -> ConnectionPair:
    pair = ConnectionPair()
    hello_id = pair.client.new_id()
    pair.send(pair.client, Hello("client-peer", "db-a", client_features, id=hello_id))
    pair.send(pair.server, Hello("server-peer", "db-b", ("deltas", "inline"), re=hello_id))
    pair.send(pair.client, Subscribe(pair.client.new_id(), 0, continuous=True))
    return pair


def _changes(pair: ConnectionPair, *inline: RevisionData,
             leaves: tuple[str, ...] = ()) -> Changes:
    return Changes(pair.server.new_id(), 2, (Change(5, "apple", R2, False, leaves),), 5,
                   inline)


def _full(rev: str = R2, body: dict[str, object] | None = None) -> RevisionData:
    return RevisionData("apple", rev, False, (rev, R1), body=body or {"n": 2})


def test_inline_revision_travels_in_the_changes_frame() -> None:
    pair = _pair()
    msg = pair.send(pair.server, _changes(pair, _full()))
    assert isinstance(msg, Changes) and msg.inline[0].body == {"n": 2}
    # Nothing is owed: the client answers as usual, here asking for nothing more.
    pair.send(pair.client, Missing(msg.id, ()))
    assert pair.client.expected(msg.id) == frozenset()


def test_inline_revision_of_another_leaf_is_allowed() -> None:
    pair = _pair()
    pair.send(pair.server, _changes(pair, _full(R2X), leaves=(R2X,)))


def test_packed_body_goes_on_the_wire_as_a_body() -> None:
    pair = _pair()
    packed = msgpack.packb({"n": 2, "name": "pear"})
    msg = _changes(pair, trusted.full_revision("apple", R2, False, (R2, R1), packed))
    frame = pair.server.send(msg)
    assert decode(frame) == to_wire(msg)
    got = pair.client.receive(frame)
    assert isinstance(got, Changes) and got.inline[0].body == {"n": 2, "name": "pear"}


def test_inline_revisions_to_a_client_without_the_feature_are_refused() -> None:
    pair = _pair(client_features=("deltas", "blobs"))
    with pytest.raises(LocalProtocolError, match="did not ask for the inline feature"):
        pair.server.send(_changes(pair, _full()))
    # A peer that sends them anyway breaks the protocol.
    other = _pair(client_features=("deltas", "blobs"))
    frame = encode(to_wire(_changes(other, _full())))
    with pytest.raises(RemoteProtocolError, match="did not ask for the inline feature"):
        other.client.receive(frame)
    assert other.client.state is State.CLOSED


@pytest.mark.parametrize(("rev", "reason"), [
    (RevisionData("pear", R2, False, (R2, R1), body={}), "not named by its changes frame"),
    (RevisionData("apple", R2X, False, (R2X, R1), body={}), "not named by its changes frame"),
    (RevisionData("apple", R2, False, (R2, R1), base=R1, delta={"n": 2}), "not a delta"),
])
def test_inline_revisions_must_be_full_bodies_of_named_revisions(
        rev: RevisionData, reason: str) -> None:
    pair = _pair()
    wire = to_wire(_changes(pair))
    wire["revs"] = [to_wire_rev(rev)]
    with pytest.raises(RemoteProtocolError, match=reason):
        pair.client.receive(encode(wire))
    assert pair.client.state is State.CLOSED
    with pytest.raises(LocalProtocolError, match=reason):
        _changes(pair, rev)


def test_an_inline_revision_may_come_only_once() -> None:
    pair = _pair()
    with pytest.raises(LocalProtocolError, match="comes twice"):
        _changes(pair, _full(), _full())


def test_unknown_fields_in_an_inline_revision_are_refused() -> None:
    pair = _pair()
    wire = to_wire(_changes(pair, _full()))
    wire["revs"][0]["colour"] = "red"
    with pytest.raises(RemoteProtocolError, match="unknown fields"):
        pair.client.receive(encode(wire))


def test_oversize_changes_frame_with_inline_revisions_is_refused() -> None:
    big = _full(body={"notes": "x" * MAX_INLINE_FRAME})
    pair = _pair()
    with pytest.raises(LocalProtocolError, match="with revs the limit is"):
        pair.server.send(_changes(pair, big))
    other = _pair()
    frame = encode(to_wire(_changes(other, big)))
    assert len(frame) < other.client.limits.max_frame  # fine without revs, too big with
    with pytest.raises(RemoteProtocolError, match="with revs the limit is"):
        other.client.receive(frame)
    assert other.client.state is State.CLOSED


def test_changes_without_revs_are_as_before() -> None:
    pair = _pair()
    wire = to_wire(_changes(pair))
    assert "revs" not in wire
    msg = parse(wire)
    assert isinstance(msg, Changes) and msg.inline == ()


def to_wire_rev(rev: RevisionData) -> dict[str, object]:
    out: dict[str, object] = {"doc": rev.doc_id, "rev": rev.rev, "deleted": rev.deleted,
                              "history": list(rev.history)}
    if rev.delta is not None:
        out.update(base=rev.base, delta=rev.delta)
    else:
        out["body"] = rev.body
    return out


def test_server_side_connection_tracks_the_clients_features() -> None:
    server = Connection(Role.SERVER)
    server.receive(encode(to_wire(Hello("c", "db-a", ("inline",), id=1))))
    assert "inline" in server.client_features


# -- "inline_bulk": bulk frames with bodies, and the client's `had` count ----------------

def _bulk_changes(pair: ConnectionPair, body_bytes: int) -> Changes:
    """A changes frame of 40 documents, each with an inline body of `body_bytes`."""
    revs = [RevisionData(f"doc-{i}", R1, False, (R1,), body={"notes": "x" * body_bytes})
            for i in range(40)]
    return Changes(pair.server.new_id(), 2, tuple(Change(i + 1, r.doc_id, R1, False)
                                                  for i, r in enumerate(revs)), 40, tuple(revs))


def test_bulk_feature_raises_the_cap_on_frames_with_revs() -> None:
    features = ("deltas", "blobs", "inline", "inline_bulk")
    pair = _pair(client_features=features)
    msg = _bulk_changes(pair, 10_000)  # ~400 KB: over the live cap, under the bulk one
    assert len(pair.server.send(msg)) > MAX_INLINE_FRAME
    got = _pair(client_features=features)
    frame = encode(to_wire(_bulk_changes(got, 10_000)))
    received = got.client.receive(frame)
    assert isinstance(received, Changes) and len(received.inline) == 40
    # Without the feature the live cap holds.
    other = _pair()
    with pytest.raises(RemoteProtocolError, match="with revs the limit is"):
        other.client.receive(encode(to_wire(_bulk_changes(other, 10_000))))


def test_bulk_frames_with_revs_are_capped_too() -> None:
    features = ("deltas", "blobs", "inline", "inline_bulk")
    pair = _pair(client_features=features)
    with pytest.raises(LocalProtocolError, match=f"limit is {MAX_BULK_INLINE_FRAME} bytes"):
        pair.server.send(_bulk_changes(pair, 60_000))  # ~2.4 MB
    other = _pair(client_features=features)
    frame = encode(to_wire(_bulk_changes(other, 60_000)))
    assert len(frame) < other.client.limits.max_frame
    with pytest.raises(RemoteProtocolError, match="with revs the limit is"):
        other.client.receive(frame)
    assert other.client.state is State.CLOSED


def test_missing_says_how_many_inline_revisions_were_held_already() -> None:
    pair = _pair(client_features=("deltas", "blobs", "inline", "inline_bulk"))
    msg = pair.send(pair.server, _changes(pair, _full()))
    answer = pair.send(pair.client, Missing(msg.id, (), had=1))
    assert isinstance(answer, Missing) and answer.had == 1
    assert "had" not in to_wire(Missing(msg.id))  # zero: left out, as older peers send it
    with pytest.raises(LocalProtocolError, match="had"):
        Missing(msg.id, (), had=-1)
