"""The `direct` feature: a client's revisions pushed without a proposal, and its rules."""

from __future__ import annotations

import msgpack
import pytest

from engine.errors import LocalProtocolError, RemoteProtocolError
from engine.protocol import (
    Ack,
    Connection,
    Hello,
    Proposal,
    Propose,
    RevisionData,
    Revs,
    Role,
    State,
    encode,
    parse,
    to_wire,
    trusted,
)
from engine.protocol.connection import _Side
from tests.protocol.pair import R1, R2, R2X, ConnectionPair

BOTH = ("deltas", "direct")


def _pair(client: tuple[str, ...] = BOTH, server: tuple[str, ...] = BOTH) -> ConnectionPair:
    pair = ConnectionPair()
    hello_id = pair.client.new_id()
    pair.send(pair.client, Hello("client-peer", "db-a", client, id=hello_id))
    pair.send(pair.server, Hello("server-peer", "db-b", server, re=hello_id))
    return pair


def _rev(doc: str = "apple", rev: str = R1, **body: object) -> RevisionData:
    return RevisionData(doc, rev, False, (rev,), body=dict(body) or {"n": 1})


def _direct(pair: ConnectionPair, *revs: RevisionData) -> Revs:
    rid = pair.client.new_id()
    return Revs(rid, rid, revs or (_rev(),), direct=True)


def _refused(conn: Connection, wire: dict[str, object], reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        conn.receive(encode(wire))
    assert conn.state is State.CLOSED


def test_direct_revisions_travel_unasked_and_the_ack_says_what_was_had() -> None:
    pair = _pair()
    msg = pair.send(pair.client, _direct(pair, _rev(), _rev("pear"), _rev("plum")))
    assert isinstance(msg, Revs) and msg.direct and msg.batch == msg.id
    assert "batch" not in to_wire(msg)  # its own id: not repeated on the wire
    ack = pair.send(pair.server, Ack(msg.id, have=(("pear", R1),),
                                     refused=(("plum", R1, "no room"),)))
    assert isinstance(ack, Ack) and ack.refused == (("plum", R1, "no room"),)
    assert pair.client.unacked() == 0 and pair.client.owed(msg.id) == frozenset()


def test_direct_frame_with_packed_bodies_is_the_same_on_the_wire() -> None:
    pair = _pair()
    packed = trusted.full_revision("apple", R1, False, (R1,), msgpack.packb({"n": 1}))
    frame = pair.client.send(_direct(pair, packed))
    msg = pair.server.receive(frame)
    assert isinstance(msg, Revs) and msg.direct and msg.revs == (_rev(),)


def test_a_plain_ack_means_every_direct_revision_was_stored() -> None:
    pair = _pair()
    msg = pair.send(pair.client, _direct(pair))
    pair.send(pair.server, Ack(msg.id))
    assert pair.server.received_keys(msg.id) == frozenset()


@pytest.mark.parametrize(("client", "server"), [(("deltas",), BOTH), (BOTH, ("deltas",))])
def test_direct_frame_needs_the_feature_in_both_hellos(
        client: tuple[str, ...], server: tuple[str, ...]) -> None:
    pair = _pair(client, server)
    with pytest.raises(LocalProtocolError, match="direct feature"):
        pair.client.send(_direct(pair))
    wire = to_wire(_direct(pair))
    _refused(pair.server, wire, "direct feature")


def test_server_may_not_send_a_direct_frame() -> None:
    pair = _pair()
    rid = pair.server.new_id()
    with pytest.raises(LocalProtocolError, match="Only the client"):
        pair.server.send(Revs(rid, rid, (_rev(),), direct=True))
    _refused(pair.client, {"t": "revs", "id": rid, "direct": True,
                           "revs": [to_wire(_direct(pair))["revs"][0]]}, "Only the client")


def test_direct_frame_may_not_carry_a_revision_twice() -> None:
    pair = _pair()
    wire = to_wire(_direct(pair, _rev(), _rev(n=2)))
    _refused(pair.server, wire, "at most once")


def test_direct_revision_may_not_be_a_delta() -> None:
    pair = _pair()
    delta = RevisionData("apple", R2, False, (R2, R1), base=R1, delta={"n": 2})
    _refused(pair.server, to_wire(_direct(pair, delta)), "full body")


@pytest.mark.parametrize(("extra", "reason"), [
    ({"batch": 7}, "no batch"),
    ({"gone": [["apple", R2]]}, "no batch and no gone"),
    ({"direct": "yes"}, "true or false"),
])
def test_direct_frame_fields_are_checked(extra: dict[str, object], reason: str) -> None:
    pair = _pair()
    wire = {**to_wire(_direct(pair)), **extra}
    _refused(pair.server, wire, reason)


def test_ack_of_a_direct_frame_may_not_ask_for_a_full_body() -> None:
    pair = _pair()
    msg = pair.send(pair.client, _direct(pair))
    _refused(pair.client, {"t": "ack", "re": msg.id, "full": [["apple", R1]]}, "full body")


@pytest.mark.parametrize(("extra", "reason"), [
    ({"have": [["pear", R1]]}, "did not carry"),
    ({"refused": [["apple", R2X, "no"]]}, "did not carry"),
    ({"have": [["apple", R1]], "refused": [["apple", R1, "no"]]}, "more than once"),
    ({"have": [["apple", R1], ["apple", R1]]}, "more than once"),
    ({"refused": [["apple", R1]]}, r"\[doc_id, rev, reason\]"),
    ({"refused": [["apple", R1, 7]]}, "reason"),
    ({"refused": [["apple", "1-x", "no"]]}, "not a revision id"),
    ({"have": [["_local", R1]]}, "reserved"),
    ({"have": "apple"}, "array"),
])
def test_ack_outcomes_are_checked(extra: dict[str, object], reason: str) -> None:
    pair = _pair()
    msg = pair.send(pair.client, _direct(pair))
    _refused(pair.client, {"t": "ack", "re": msg.id, "full": [], **extra}, reason)


def test_only_the_ack_of_a_direct_frame_may_name_outcomes() -> None:
    pair = _pair()
    pid = pair.client.new_id()
    pair.send(pair.client, Propose(pid, (Proposal("apple", R1),)))
    pair.send(pair.server, parse({"t": "proposed", "re": pid, "answers": [["send", []]]}))
    rid = pair.client.new_id()
    pair.send(pair.client, Revs(rid, pid, (_rev(),)))
    _refused(pair.client, {"t": "ack", "re": rid, "have": [["apple", R1]]}, "Only the ack")


def test_read_only_refusal_of_a_direct_frame_closes_only_that_request() -> None:
    pair = _pair()
    msg = pair.send(pair.client, _direct(pair))
    refusal = pair.server.send(parse({"t": "error", "code": "read_only",
                                      "message": "read-only", "re": msg.id}))
    pair.client.receive(refusal)
    assert pair.client.state is State.READY and pair.client.unacked() == 0
    assert pair.client._ours == _Side(last_id=msg.id)  # nothing left open
    assert pair.server._theirs == _Side(last_id=msg.id)


def test_direct_feature_is_listed_by_both_sides() -> None:
    from engine.protocol import FEATURES

    assert "direct" in FEATURES
    conn = Connection(Role.SERVER)
    conn.receive(encode(to_wire(Hello("c", "db-a", ("direct",), id=1))))
    assert "direct" in conn.client_features


def test_an_empty_servers_hello_says_so_and_older_peers_read_past_it() -> None:
    hello = Hello("s", "db-b", ("direct",), re=1, empty=True)
    wire = to_wire(hello)
    assert wire["empty"] is True and parse(wire) == hello
    assert "empty" not in to_wire(Hello("s", "db-b", ("direct",), re=1))  # only when true
    # A hello from a peer that does not know the key parses as not empty.
    assert parse({k: v for k, v in wire.items() if k != "empty"}).empty is False
    with pytest.raises(RemoteProtocolError, match="empty must be true or false"):
        parse({**wire, "empty": "yes"})
