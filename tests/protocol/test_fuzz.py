"""Property tests: the decoder only ever fails with RemoteProtocolError; deltas round-trip."""

from __future__ import annotations

import hashlib
import os
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import RemoteProtocolError
from engine.protocol import (
    Connection,
    DeltaError,
    Role,
    apply_delta,
    encode,
    make_delta,
    make_rev_id,
)
from tests.protocol.pair import ConnectionPair

EXAMPLES = 2000 if os.environ.get("LISTSYNC_LONG") else 80
FUZZ = settings(max_examples=EXAMPLES, database=None, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8) | (
    st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=4),
    max_leaves=20,
)
json_bodies = st.dictionaries(st.text(max_size=5), json_values, max_size=5)
kinds = st.sampled_from(["hello", "subscribe", "changes", "caught_up", "missing", "propose",
                         "proposed", "revs", "ack", "get_blob", "blob_chunk", "ping", "pong",
                         "error", "nope"])
wire_values = st.recursive(
    json_scalars | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["t", "id", "re", "doc", "rev", "history", "body", "revs", "x"]),
        inner, max_size=5),
    max_leaves=25,
)


def _server() -> Connection:
    pair = ConnectionPair()
    pair.handshake()
    return pair.server


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_the_decoder(frame: bytes) -> None:
    try:
        _server().receive(frame)
    except RemoteProtocolError:
        pass


@FUZZ
@given(kinds, st.dictionaries(st.sampled_from(
    ["id", "re", "since", "continuous", "revs", "docs", "answers", "digest", "length", "data",
     "offset", "last", "total", "code", "message", "sub", "changes", "last_seq", "batch",
     "full", "gone", "version", "peer_id", "db_uuid"]), wire_values, max_size=6))
def test_random_frames_are_messages_or_protocol_errors(kind: str, fields: dict[str, Any]) -> None:
    for conn in (_server(), Connection(Role.SERVER)):
        try:
            conn.receive(msgpack.packb({"t": kind, **fields}, use_bin_type=True))
        except RemoteProtocolError:
            pass


@FUZZ
@given(json_bodies, json_bodies)
def test_delta_turns_base_into_target(base: dict[str, Any], target: dict[str, Any]) -> None:
    delta = make_delta(base, target)
    result = apply_delta(base, delta)
    assert make_rev_id(None, False, result) == make_rev_id(None, False, target)


@FUZZ
@given(json_bodies, st.dictionaries(st.text(max_size=3), wire_values, max_size=3))
def test_random_deltas_apply_or_fail_cleanly(base: dict[str, Any], delta: dict[str, Any]) -> None:
    try:
        apply_delta(base, delta)
    except DeltaError:
        pass


def test_delta_of_a_list_item_change_is_small() -> None:
    items = [{"key": f"item {i}", "value": i} for i in range(50)]
    changed = [dict(item) for item in items]
    changed[7]["value"] = 99
    delta = make_delta({"items": items}, {"items": changed})
    assert len(encode(delta)) < 40
    assert apply_delta({"items": items}, delta) == {"items": changed}


@pytest.mark.parametrize(
    "delta", [{"k": [0]}, {"k": [2, {}]}, {"k": "x"}, {"k": [3, 1, [[5, [1, 1]]]]}, {"k": [9, 1]}]
)
def test_bad_deltas_raise_delta_error(delta: dict[str, Any]) -> None:
    with pytest.raises(DeltaError):
        apply_delta({"j": 1}, delta)


def test_rev_id_formula_matches_the_data_model() -> None:
    assert make_rev_id(None, False, {}) == "1-" + hashlib.sha256(
        b'["",false,{}]').hexdigest()[:32]
    assert make_rev_id("1-" + "a" * 32, True, {"x": "é"}).startswith("2-")
