"""Every way a peer can break the protocol ends in one RemoteProtocolError with a reason."""

from __future__ import annotations

import msgpack
import pytest

from engine.errors import LocalProtocolError, RemoteProtocolError
from engine.protocol import (
    Change,
    Changes,
    Connection,
    Hello,
    Limits,
    Missing,
    RevisionData,
    Revs,
    Role,
    State,
    Subscribe,
    Want,
    encode,
)
from tests.protocol.pair import R1, ConnectionPair


def _ready_server() -> Connection:
    pair = ConnectionPair()
    pair.handshake()
    return pair.server


def _ready_client() -> Connection:
    pair = ConnectionPair()
    pair.handshake()
    return pair.client


def _refused(conn: Connection, frame: bytes, reason: str) -> None:
    with pytest.raises(RemoteProtocolError, match=reason):
        conn.receive(frame)
    assert conn.state is State.CLOSED


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\xc1", "not valid msgpack"),
        (b"\x93\x01\x02\x03", "not a msgpack map"),
        (b"\x81\xa1t\xa4ping\x00", "more than one msgpack value"),
        (b"\x81\xa1t\xa2\xff\xfe", "not valid UTF-8"),
        (b"\x81\x01\x02", "not valid msgpack"),  # integer map key: strict_map_key
        (b"\xdd\xff\xff\xff\xff", "not valid msgpack"),  # declares 4 billion items
        (b"\xdf\xff\xff\xff\xff", "not valid msgpack"),  # declares 4 billion pairs
        (b"\xdb\xff\xff\xff\xff", "not valid msgpack"),  # declares a 4 GiB string
        (b"\x81\xa1t\xc7\x01\x05\x00", "not valid msgpack"),  # ext type
    ],
)
def test_malformed_msgpack_is_refused(frame: bytes, reason: str) -> None:
    _refused(_ready_server(), frame, reason)


def test_oversize_frame_is_refused_before_decoding() -> None:
    server = Connection(Role.SERVER, Limits(max_frame=8192))
    _refused(server, b"\x00" * 8193, "8193-byte frame; the limit is 8192")


def test_deep_nesting_is_refused() -> None:
    nested: object = 1
    for _ in range(40):
        nested = [nested]
    _refused(_ready_server(), encode({"t": "ping", "id": 5, "x": nested}), "nested deeper")


def test_very_deep_nesting_does_not_recurse() -> None:
    frame = b"\x81\xa1x" + b"\x91" * 100_000 + b"\x01"
    _refused(_ready_server(), frame, "not valid msgpack|nested deeper")


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        ({"t": "teleport", "id": 1}, "unknown kind 'teleport'"),
        ({"id": 1}, "unknown kind None"),
        ({"t": "ping"}, "without field 'id'"),
        ({"t": "ping", "id": "7"}, "id must be an integer"),
        ({"t": "ping", "id": True}, "id must be an integer"),
        ({"t": "ping", "id": -1}, "id must be an integer"),
        ({"t": "subscribe", "id": 9, "since": 1.5}, "since must be an integer"),
        ({"t": "subscribe", "id": 9, "continuous": "yes"}, "continuous must be true or false"),
        ({"t": "subscribe", "id": 9, "fresh": 1}, "fresh must be true or false"),
        ({"t": "subscribe", "id": 9, "doc_ids": ["_design"]}, "reserved"),
        ({"t": "subscribe", "id": 9, "doc_ids": ["a\x00b"]}, "control characters"),
        ({"t": "subscribe", "id": 9, "doc_ids": ["x" * 251]}, "1 to 250 UTF-8 bytes"),
        ({"t": "subscribe", "id": 9, "doc_ids": [""]}, "1 to 250 UTF-8 bytes"),
        ({"t": "get_blob", "id": 9, "digest": "sha256-../../etc", "length": 1}, "blob digest"),
        ({"t": "get_blob", "id": 9, "digest": "sha256-" + "A" * 64, "length": 1}, "blob digest"),
        ({"t": "ping", "id": 9, "x": float("nan")}, "NaN"),
        ({"t": "ping", "id": 9, "x": {"y": b"bin"}}, "unsupported type bytes"),
    ],
)
def test_schema_violations_are_refused(wire: dict[str, object], reason: str) -> None:
    _refused(_ready_server(), msgpack.packb(wire), reason)


def test_non_string_keys_inside_a_body_are_refused() -> None:
    frame = msgpack.packb({"t": "ping", "id": 3, "x": {b"k": 1}}, use_bin_type=True)
    _refused(_ready_server(), frame, "non-string key")


@pytest.mark.parametrize(
    ("rev", "reason"),
    [
        ({"doc": "a", "rev": "1-xyz", "deleted": False, "history": ["1-xyz"], "body": {}},
         "not a revision id"),
        ({"doc": "a", "rev": R1, "deleted": False, "history": [], "body": {}},
         "history must start"),
        ({"doc": "a", "rev": R1, "deleted": False, "history": [R1]}, "exactly one of body"),
        ({"doc": "a", "rev": R1, "deleted": False, "history": [R1], "body": [1]},
         "body must be a map"),
        ({"doc": "a", "rev": R1, "deleted": 0, "history": [R1], "body": {}}, "true or false"),
        ({"doc": "a", "rev": R1, "deleted": False, "history": [R1], "body": {}, "x": 1},
         "unknown fields"),
        ({"doc": "a", "rev": R1, "deleted": False, "history": [R1], "base": R1, "delta": {}},
         "base in the history"),
    ],
)
def test_malformed_revisions_are_refused(rev: dict[str, object], reason: str) -> None:
    client = _ready_client()
    _refused(client, msgpack.packb({"t": "revs", "id": 50, "batch": 1, "revs": [rev]}), reason)


def test_illegal_order_is_refused() -> None:
    server = Connection(Role.SERVER)
    _refused(server, encode({"t": "ping", "id": 1}), "In state idle, the peer may not send ping")


def test_second_hello_is_refused() -> None:
    server = _ready_server()
    hello = {"t": "hello", "id": 99, "version": [1, 0], "peer_id": "p", "db_uuid": "d"}
    _refused(server, encode(hello), "In state ready, the peer may not send hello")


def test_server_may_not_subscribe() -> None:
    client = _ready_client()
    _refused(client, encode({"t": "subscribe", "id": 99}), "may not send subscribe")


def test_reply_to_nothing_is_refused() -> None:
    client = _ready_client()
    _refused(client, encode({"t": "pong", "re": 1234}), "not an open ping")


def test_request_ids_must_grow() -> None:
    server = _ready_server()
    server.receive(encode({"t": "ping", "id": 10}))
    _refused(server, encode({"t": "ping", "id": 10}), "not larger than the previous")


def test_unrequested_revision_is_refused() -> None:
    pair = ConnectionPair()
    pair.handshake()
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub))
    cid = pair.server.new_id()
    pair.send(pair.server, Changes(cid, sub, (Change(1, "a", R1, False),), 1))
    pair.send(pair.client, Missing(cid, (Want("a", (R1,)),)))
    other = RevisionData("b", R1, False, (R1,), body={})
    frame = encode({"t": "revs", "id": 77, "batch": cid,
                    "revs": [{"doc": "b", "rev": R1, "deleted": False, "history": [R1],
                              "body": {}}]})
    with pytest.raises(LocalProtocolError, match="not requested"):
        pair.server.send(Revs(pair.server.new_id(), cid, (other,)))
    _refused(pair.client, frame, "was not requested in batch")


def test_building_a_bad_message_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="Bad hello message"):
        Hello("", "db", id=1)
    with pytest.raises(LocalProtocolError, match="exactly one of id and re"):
        Hello("p", "db")


def test_frames_after_close_are_refused() -> None:
    server = _ready_server()
    _refused(server, b"\xc1", "msgpack")
    _refused(server, encode({"t": "ping", "id": 100}), "after the connection was closed")


def test_our_own_oversize_frame_is_a_local_error() -> None:
    pair = ConnectionPair()
    pair.server = Connection(Role.SERVER, Limits(max_frame=8192))
    pair.handshake()
    with pytest.raises(LocalProtocolError, match="exceeds"):
        pair.server.send(_big_changes(pair))


def _big_changes(pair: ConnectionPair) -> Changes:
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub))
    changes = tuple(Change(i + 1, f"doc-{i:05d}", R1, False) for i in range(400))
    return Changes(pair.server.new_id(), sub, changes, 400)
