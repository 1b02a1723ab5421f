"""Every protocol flow, client and server objects driven against each other."""

from __future__ import annotations

import pytest

from engine.errors import LocalProtocolError
from engine.protocol import (
    Ack,
    Answer,
    BlobChunk,
    CaughtUp,
    Change,
    Changes,
    Error,
    GetBlob,
    Hello,
    Missing,
    Ping,
    Pong,
    Proposal,
    Propose,
    Proposed,
    RevisionData,
    Revs,
    State,
    Subscribe,
    VersionMismatchError,
    Want,
)
from tests.protocol.pair import R1, R2, R2X, ConnectionPair

DIGEST = "sha256-" + "0" * 64


def _rev(doc: str, rev: str, history: tuple[str, ...] | None = None) -> RevisionData:
    return RevisionData(doc, rev, False, history or (rev,), body={"n": 1})


def test_handshake_records_the_peers_hello() -> None:
    pair = ConnectionPair()
    pair.handshake(read_only=True)
    assert pair.client.peer_hello is not None and pair.client.peer_hello.read_only
    assert pair.server.peer_hello is not None and pair.server.peer_hello.peer_id == "client-peer"


def test_mismatched_major_version_is_a_clear_error() -> None:
    pair = ConnectionPair()
    frame = pair.client.send(Hello("c", "db", version=(2, 0), id=pair.client.new_id()))
    with pytest.raises(VersionMismatchError, match="protocol version 2.0; this program speaks 1"):
        pair.server.receive(frame)
    assert pair.server.state is State.CLOSED
    # The server may still tell the client why, once.
    error = pair.client.receive(pair.server.send(Error("version", "Use version 1.")))
    assert isinstance(error, Error) and pair.client.state is State.CLOSED


def test_newer_minor_version_is_accepted() -> None:
    pair = ConnectionPair()
    pair.send(pair.client, Hello("c", "db", version=(1, 7), id=pair.client.new_id()))
    assert pair.server.state is State.SEND_HELLO


def test_a_fresh_subscribe_round_trips_and_the_flag_is_left_out_when_false() -> None:
    pair = ConnectionPair()
    pair.handshake()
    assert pair.send(pair.client, Subscribe(pair.client.new_id(), fresh=True)).fresh
    assert b"fresh" not in pair.client.send(Subscribe(pair.client.new_id()))


def test_one_shot_pull_flow() -> None:
    pair = ConnectionPair()
    pair.handshake()
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub, since=0, continuous=False))
    cid = pair.server.new_id()
    changes = (Change(1, "apple", R1, False), Change(2, "pear", R2, False, (R2X,)))
    pair.send(pair.server, Changes(cid, sub, changes, last_seq=2))
    pair.send(pair.client, Missing(cid, (Want("apple", (R1,)), Want("pear", (R2, R2X), (R1,)))))
    assert pair.server.owed(cid) == {("apple", R1), ("pear", R2), ("pear", R2X)}
    rid = pair.server.new_id()
    pair.send(pair.server, Revs(rid, cid, (_rev("apple", R1), _rev("pear", R2, (R2, R1)))))
    assert pair.client.expected(cid) == {("pear", R2X)}
    assert pair.server.unacked() == 1
    pair.send(pair.client, Ack(rid))
    assert pair.server.unacked() == 0
    rid2 = pair.server.new_id()
    pair.send(pair.server, Revs(rid2, cid, (), gone=(("pear", R2X),)))
    pair.send(pair.client, Ack(rid2))
    assert pair.server.owed(cid) == frozenset() and pair.client.expected(cid) == frozenset()
    pair.send(pair.server, CaughtUp(sub, seq=2))
    # A one-shot feed is over: more changes for it are illegal.
    with pytest.raises(LocalProtocolError, match="Subscription .* is not open"):
        pair.server.send(Changes(pair.server.new_id(), sub, (), last_seq=2))


def test_continuous_feed_stays_open_after_caught_up() -> None:
    pair = ConnectionPair()
    pair.handshake()
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub, continuous=True))
    pair.send(pair.server, CaughtUp(sub, seq=0))
    pair.send(pair.server, Changes(pair.server.new_id(), sub, (Change(3, "a", R1, True),), 3))


def test_ack_can_ask_for_a_full_body_again() -> None:
    pair = ConnectionPair()
    pair.handshake()
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub))
    cid = pair.server.new_id()
    pair.send(pair.server, Changes(cid, sub, (Change(1, "a", R2, False),), 1))
    pair.send(pair.client, Missing(cid, (Want("a", (R2,), (R1,)),)))
    rid = pair.server.new_id()
    delta_rev = RevisionData("a", R2, False, (R2, R1), base=R1, delta={"n": [1, 2]})
    pair.send(pair.server, Revs(rid, cid, (delta_rev,)))
    pair.send(pair.client, Ack(rid, full=(("a", R2),)))
    assert pair.server.owed(cid) == {("a", R2)}
    pair.send(pair.server, Revs(pair.server.new_id(), cid, (_rev("a", R2, (R2, R1)),)))


def test_push_flow_with_every_answer() -> None:
    pair = ConnectionPair()
    pair.handshake()
    pid = pair.client.new_id()
    pair.send(pair.client, Propose(pid, (Proposal("a", R2, (R1,)), Proposal("b", R1),
                                         Proposal("c", R1))))
    pair.send(pair.server, Proposed(pid, (Answer("send", (R1,)), Answer("have"),
                                          Answer("refused", reason="filtered"))))
    assert pair.client.owed(pid) == {("a", R2)}
    rid = pair.client.new_id()
    pair.send(pair.client, Revs(rid, pid, (_rev("a", R2, (R2, R1)),)))
    pair.send(pair.server, Ack(rid))
    assert pair.client.unacked() == 0


def test_read_only_server_refuses_a_push_with_an_error_reply() -> None:
    pair = ConnectionPair()
    pair.handshake(read_only=True)
    pid = pair.client.new_id()
    pair.send(pair.client, Propose(pid, (Proposal("a", R1),)))
    pair.send(pair.server, Error("read_only", "This peer is read-only.", re=pid))
    # The request is closed and the connection lives on.
    assert pair.client.state is State.READY
    with pytest.raises(LocalProtocolError):
        pair.server.send(Proposed(pid, (Answer("have"),)))


def test_blob_transfer_in_chunks() -> None:
    pair = ConnectionPair()
    pair.handshake()
    gid = pair.server.new_id()  # either side may fetch blobs (push and pull)
    pair.send(pair.server, GetBlob(gid, DIGEST, 0, 10))
    pair.send(pair.client, BlobChunk(gid, 0, b"01234", last=False))
    pair.send(pair.client, BlobChunk(gid, 5, b"56789", last=True))
    # The last chunk closed the request: one more is an answer to nothing.
    with pytest.raises(LocalProtocolError, match="not an open get_blob"):
        pair.client.send(BlobChunk(gid, 10, b"", last=True))


def test_missing_blob_is_a_request_error() -> None:
    pair = ConnectionPair()
    pair.handshake()
    gid = pair.client.new_id()
    pair.send(pair.client, GetBlob(gid, DIGEST))
    pair.send(pair.server, Error("not_found", "No such blob.", re=gid))
    assert pair.server.state is State.READY


def test_ping_pong_both_ways() -> None:
    pair = ConnectionPair()
    pair.handshake()
    for conn in (pair.client, pair.server):
        pid = conn.new_id()
        pair.send(conn, Ping(pid))
        pair.send(pair.other(conn), Pong(pid))


def test_fatal_error_closes_both_sides() -> None:
    pair = ConnectionPair()
    pair.handshake()
    pair.send(pair.client, Error("internal", "Shutting down."))
    assert pair.client.state is State.CLOSED and pair.server.state is State.CLOSED
    with pytest.raises(LocalProtocolError, match="closed"):
        pair.server.send(Ping(pair.server.new_id()))


@pytest.mark.parametrize("count", [1, 15, 16, 70_000])
def test_packed_bodies_go_out_as_the_same_frame_a_body_would(count: int) -> None:
    import msgpack

    from engine.protocol import encode, to_wire
    from engine.protocol.splice import encode_message

    bodies = [{"n": i, "name": f"item {i}", "tags": ["a", {"b": None}]} for i in range(count)]
    full = Revs(9, 3, tuple(RevisionData(f"d{i}", R1, False, (R1,), body=b)
                            for i, b in enumerate(bodies)), gone=(("gone", R2),))
    packed = Revs(9, 3, tuple(RevisionData(f"d{i}", R1, False, (R1,), packed=msgpack.packb(b))
                              for i, b in enumerate(bodies)), gone=(("gone", R2),))
    frames = encode_message(packed), encode(to_wire(full))  # 70 000 revs: over the limit
    assert msgpack.unpackb(frames[0]) == msgpack.unpackb(frames[1]) == to_wire(full)


def test_a_packed_body_must_be_a_msgpack_map() -> None:
    import msgpack

    with pytest.raises(LocalProtocolError, match="msgpack-encoded map"):
        RevisionData("a", R1, False, (R1,), packed=msgpack.packb([1, 2]))
    with pytest.raises(LocalProtocolError, match="exactly one of body"):
        RevisionData("a", R1, False, (R1,), body={}, packed=msgpack.packb({}))
