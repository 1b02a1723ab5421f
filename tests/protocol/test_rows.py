"""The `rows` feature: full-body revisions as arrays between peers that both list it,
maps with any other peer, and rows refused unless agreed."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from engine.errors import RemoteProtocolError
from engine.protocol import (
    Change,
    Changes,
    Connection,
    Hello,
    Missing,
    RevisionData,
    Revs,
    State,
    Subscribe,
    Want,
    decode,
    encode,
    trusted,
)
from engine.protocol.delta import make_delta
from engine.protocol.limits import FEATURES
from tests.protocol.pair import R1, R2, ConnectionPair

NEW = ("deltas", "direct", "inline", "inline_bulk", "rows")  # this version's peers
OLD = ("deltas", "direct", "inline", "inline_bulk")  # a peer from before `rows`


def _pair(client: tuple[str, ...], server: tuple[str, ...]) -> ConnectionPair:
    pair = ConnectionPair()
    hello_id = pair.client.new_id()
    pair.send(pair.client, Hello("client-peer", "db-a", client, id=hello_id))
    pair.send(pair.server, Hello("server-peer", "db-b", server, re=hello_id))
    return pair


def _packed(i: int) -> RevisionData:
    """A revision as our store hands it to a sender: its body packed."""
    body = {"n": i, "name": f"item {i}"}
    return trusted.full_revision(f"doc-{i}", R1, False, (R1,), msgpack.packb(body))


def _as_received(r: RevisionData) -> tuple[Any, ...]:
    body = msgpack.unpackb(r.packed) if r.packed is not None else r.body
    return (r.doc_id, r.rev, r.deleted, r.history, body, r.base, r.delta)


def _push(pair: ConnectionPair, revs: tuple[RevisionData, ...]) -> tuple[bytes, Revs]:
    frame_id = pair.client.new_id()
    frame = pair.client.send(Revs(frame_id, frame_id, revs, direct=True))
    got = pair.server.receive(frame)
    assert isinstance(got, Revs)
    return frame, got


def test_this_version_lists_rows() -> None:
    assert "rows" in FEATURES


def test_peers_that_both_list_rows_send_revisions_as_arrays() -> None:
    pair = _pair(NEW, NEW)
    assert pair.client.rows and pair.server.rows
    sent = tuple(_packed(i) for i in range(20))
    frame, got = _push(pair, sent)
    assert all(type(entry) is list and len(entry) == 5 for entry in decode(frame)["revs"])
    assert [_as_received(r) for r in got.revs] == [_as_received(r) for r in sent]


@pytest.mark.parametrize(("client", "server"), [(NEW, OLD), (OLD, NEW), (OLD, OLD)])
def test_with_a_peer_without_rows_revisions_go_as_maps(client: tuple[str, ...],
                                                       server: tuple[str, ...]) -> None:
    pair = _pair(client, server)
    assert not pair.client.rows and not pair.server.rows
    sent = tuple(_packed(i) for i in range(20))
    frame, got = _push(pair, sent)
    assert all(type(entry) is dict for entry in decode(frame)["revs"])
    assert [_as_received(r) for r in got.revs] == [_as_received(r) for r in sent]


def test_inline_revisions_of_a_changes_frame_go_as_arrays_too() -> None:
    pair = _pair(NEW, NEW)
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub))
    inline = tuple(_packed(i) for i in range(5))
    entries = tuple(trusted.change(i + 1, r.doc_id, r.rev, False, ())
                    for i, r in enumerate(inline))
    frame = pair.server.send(trusted.changes(pair.server.new_id(), sub, entries, 5, inline))
    assert all(type(entry) is list for entry in decode(frame)["revs"])
    got = pair.client.receive(frame)
    assert isinstance(got, Changes)
    assert [_as_received(r) for r in got.inline] == [_as_received(r) for r in inline]


def test_a_delta_stays_a_map_among_rows() -> None:
    pair = _pair(NEW, NEW)
    sub = pair.client.new_id()
    pair.send(pair.client, Subscribe(sub))
    cid = pair.server.new_id()
    names = ("doc-1", "doc-d", "doc-2")
    pair.send(pair.server, Changes(cid, sub, tuple(
        Change(i + 1, doc, R2, False) for i, doc in enumerate(names)), 3))
    pair.send(pair.client, Missing(cid, tuple(Want(doc, (R2,), (R1,)) for doc in names)))
    delta = RevisionData("doc-d", R2, False, (R2, R1), base=R1,
                         delta=make_delta({"n": 1}, {"n": 2}))
    full = [trusted.full_revision(doc, R2, False, (R2, R1), msgpack.packb({"n": 2}))
            for doc in ("doc-1", "doc-2")]
    sent = (full[0], delta, full[1])
    frame = pair.server.send(Revs(pair.server.new_id(), cid, sent))
    assert [type(entry) for entry in decode(frame)["revs"]] == [list, dict, list]
    got = pair.client.receive(frame)
    assert isinstance(got, Revs)
    assert [_as_received(r) for r in got.revs] == [_as_received(r) for r in sent]


def _server_receiving(features: tuple[str, ...]) -> Connection:
    return _pair(features, features).server


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (["doc-1", R1, False, [R1]], r"row is \[doc, rev, deleted, history, body\]"),
        (["doc-1", R1, False, R1, {}], "history must be an array"),
        (["doc-1", R1, False, [R1], [1]], "body must be a map"),
        (["doc-1", R1, 0, [R1], {}], "true or false"),
        (["_doc", R1, False, [R1], {}], "reserved"),
        (["doc-1", R1, False, [R2], {}], "history must start"),
        (["doc-1", "1-x", False, ["1-x"], {}], "not a revision id"),
    ],
)
def test_malformed_rows_are_refused(row: list[Any], reason: str) -> None:
    server = _server_receiving(NEW)
    frame = encode({"t": "revs", "id": 50, "direct": True, "revs": [row]})
    with pytest.raises(RemoteProtocolError, match=reason):
        server.receive(frame)
    assert server.state is State.CLOSED


def test_rows_from_a_peer_that_did_not_agree_them_are_refused() -> None:
    for server in (_server_receiving(OLD), _pair(NEW, OLD).server):
        frame = encode({"t": "revs", "id": 50, "direct": True,
                        "revs": [["doc-1", R1, False, [R1], {"n": 1}]]})
        with pytest.raises(RemoteProtocolError, match="must be a map"):
            server.receive(frame)
