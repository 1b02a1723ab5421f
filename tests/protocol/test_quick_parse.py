"""`parse_frame` (entries of revs and changes frames checked without walking them)
against the usual path, `parse(decode(...))`: the same message or the same refusal;
and the bulk rev id check against the one-by-one check."""

from __future__ import annotations

import math
import os
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.errors import RemoteProtocolError
from engine.protocol import Limits, Message, decode
from engine.protocol.batch import revs_ok
from engine.protocol.codec import maps_ok
from engine.protocol.limits import _REV_RE
from engine.protocol.wire import parse, parse_frame

EXAMPLES = 3000 if os.environ.get("LISTSYNC_LONG") else 300
FUZZ = settings(max_examples=EXAMPLES, database=None, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits()
SHALLOW = Limits(max_depth=8)  # bodies at depth 4: a few levels of nesting reach the limit


def _outcome(frame: bytes, limits: Limits, rows: bool, fn: Any) -> Message | str:
    try:
        return fn(frame, limits, rows)  # type: ignore[no-any-return]
    except RemoteProtocolError as err:
        return f"refused: {err}"


def _usual(frame: bytes, limits: Limits, rows: bool) -> Message:
    return parse(decode(frame, limits), rows)


def _same(frame: bytes, rows: bool = False) -> Message | str:
    for limits in (LIMITS, SHALLOW):
        usual = _outcome(frame, limits, rows, _usual)
        quick = _outcome(frame, limits, rows, parse_frame)
        assert quick == usual
    return usual


def _rev(i: int, body: dict[Any, Any]) -> dict[str, Any]:
    rev = f"1-{i:032x}"  # (the protocol does not hash bodies: the store does)
    return {"doc": f"doc-{i}", "rev": rev, "deleted": False, "history": [rev], "body": body}


scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=6)
           | st.floats() | st.binary(max_size=4))  # (floats: NaN and infinities too)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=3) | st.binary(max_size=2), inner, max_size=3), max_leaves=12)
bodies = st.dictionaries(st.text(max_size=4) | st.binary(max_size=2), values, max_size=4)
fields = st.sampled_from(["doc", "rev", "deleted", "history", "body", "base", "delta", "x"])


@st.composite
def revisions(draw: st.DrawFn) -> list[Any]:
    """Mostly well-formed revisions, some with one field dropped, replaced or added;
    some as rows (the `rows` feature), some of those cut short or grown."""
    out: list[Any] = []
    for i in range(draw(st.integers(0, 4))):
        entry: Any = _rev(i, draw(bodies))
        how = draw(st.sampled_from(["keep", "keep", "drop", "set", "replace"]))
        if how == "drop":
            entry.pop(draw(fields), None)
        elif how == "set":
            entry[draw(fields)] = draw(values)
        elif how == "replace":
            entry = draw(values)
        if type(entry) is dict and draw(st.booleans()):
            entry = [entry.get(k) for k in ("doc", "rev", "deleted", "history", "body")]
            entry = entry[:draw(st.sampled_from([5, 5, 5, 4, 6]))] + (
                [1] if len(entry) == 5 and draw(st.booleans()) and draw(st.booleans()) else [])
        out.append(entry)
    return out


envelopes = st.dictionaries(st.sampled_from(["id", "batch", "direct", "gone", "x", "sub"]),
                            values, max_size=3)


@FUZZ
@given(revisions(), envelopes, st.booleans(), st.booleans())
def test_revs_frames_parse_as_the_usual_path_does(revs: list[Any], extra: dict[str, Any],
                                                  direct: bool, rows: bool) -> None:
    wire = {"t": "revs", "id": 7, **({"direct": True} if direct else {"batch": 3}), **extra,
            "revs": revs}
    _same(msgpack.packb(wire, use_bin_type=True), rows)


@FUZZ
@given(revisions(), st.lists(st.lists(values, max_size=6) | values, max_size=3), envelopes,
       st.booleans())
def test_changes_frames_parse_as_the_usual_path_does(revs: list[Any], odd: list[Any],
                                                     extra: dict[str, Any], rows: bool) -> None:
    entries: list[Any] = [[i + 1, r["doc"], r["rev"], False, []] for i, r in enumerate(revs)
                          if type(r) is dict and type(r.get("doc")) is str
                          and type(r.get("rev")) is str]
    wire = {"t": "changes", "id": 9, "sub": 2, "last_seq": 5, **extra,
            "changes": entries + odd, "revs": revs}
    _same(msgpack.packb(wire, use_bin_type=True), rows)


def test_well_formed_frames_take_the_quick_path_and_equal_the_usual() -> None:
    revs = [_rev(i, {"n": i, "f": 1.5, "tags": ["a", {"b": None}]}) for i in range(50)]
    as_rows = [[r["doc"], r["rev"], r["deleted"], r["history"], r["body"]] for r in revs]
    for entries, rows in ((revs, False), (revs, True), (as_rows, True)):
        for wire in ({"t": "revs", "id": 7, "direct": True, "revs": entries},
                     {"t": "changes", "id": 9, "sub": 2, "last_seq": 50, "revs": entries,
                      "changes": [[i + 1, r["doc"], r["rev"], False, []]
                                  for i, r in enumerate(revs)]}):
            got = _same(msgpack.packb(wire, use_bin_type=True), rows)
            assert isinstance(got, Message)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"x": math.nan}, "NaN or infinite"),
        ({"x": [1, -math.inf]}, "NaN or infinite"),
        ({"x": b"raw"}, "unsupported type bytes"),
        ({"x": {"y": b"raw"}}, "unsupported type bytes"),
        ({b"k": 1}, "non-string key"),
        ({"x": [{b"k": 1}]}, "non-string key"),
        ({"x": [[[[[1]]]]]}, "nested deeper than 8"),
    ],
)
def test_a_bad_body_among_good_ones_is_refused_with_the_usual_reason(
        body: dict[Any, Any], reason: str) -> None:
    revs = [_rev(i, {"n": i}) for i in range(20)]
    revs[13]["body"] = body
    frame = msgpack.packb({"t": "revs", "id": 7, "direct": True, "revs": revs},
                          use_bin_type=True)
    with pytest.raises(RemoteProtocolError, match=reason):
        parse_frame(frame, SHALLOW)
    assert reason in str(_same(frame)) or "nested" in reason


def test_maps_ok_agrees_with_the_walk_on_flat_and_nested_maps() -> None:
    assert maps_ok([{"a": 1, "b": "x", "c": None, "d": True}], 4, 32)
    assert maps_ok([{"a": [1.5, {"b": []}]}], 4, 32)
    assert not maps_ok([{"a": 1}], 33, 32)
    assert not maps_ok([{"a": math.inf}], 4, 32)
    assert not maps_ok([{b"a": 1}], 4, 32)
    assert not maps_ok([{"a": b"x"}], 4, 32)


# Rev ids and near misses: wrong digits, case, dashes, commas, lengths, non-ASCII.
rev_like = st.builds(
    lambda gen, sep, digest: f"{gen}{sep}{digest}",
    st.sampled_from(["1", "9", "10", "123456789", "1234567890", "0", "01", "", "a", "-1"]),
    st.sampled_from(["-", "--", "", ",", "-,"]),
    st.text("0123456789abcdefABCDEF-,gé\u0661", min_size=30, max_size=34)
    | st.sampled_from(["a" * 32, "0" * 32, "f" * 31 + "-", "a" * 16 + ",1-" + "b" * 13]),
) | st.sampled_from(["1-" + "a" * 32, "2-" + "b" * 32]) | st.integers() | st.none()


@FUZZ
@given(st.lists(rev_like, max_size=5))
def test_revs_ok_agrees_with_checking_each_rev_id(revs: list[Any]) -> None:
    one_by_one = all(isinstance(r, str) and _REV_RE.match(r) is not None for r in revs)
    assert revs_ok(revs) == one_by_one
