"""The fast checks on peers' revisions give exactly the reference answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.store import revs
from engine.store.canon import encoded_canonical, flat_canonical
from engine.store.verify import matches

PARENT = "3-" + "c" * 32

_scalars = (st.text(max_size=40) | st.integers(-(2**64), 2**64) | st.booleans() | st.none()
            | st.floats(allow_nan=False, allow_infinity=False))
_bodies = st.dictionaries(
    st.text(max_size=12),
    st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6),
    max_size=6)


@settings(max_examples=400, deadline=None)
@given(body=_bodies, deleted=st.booleans(), parent=st.sampled_from(["", PARENT]))
def test_the_flat_encoding_is_the_canonical_one_or_none(body: dict[str, Any], deleted: bool,
                                                        parent: str) -> None:
    fast = flat_canonical(parent, deleted, body)
    assert fast is None or fast == encoded_canonical(parent or None, deleted, body)
    # and what rev ids hash is the formula's output, whichever way it was made
    assert revs.canonical(parent or None, deleted, body) == json.dumps(
        [parent, deleted, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        allow_nan=False).encode("utf-8")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"a": "plain", "b": 1, "c": True, "d": None, "e": False, "f": -(2**63)},
        {"é": "ünïcode ✓ 🍎", "z": "x" * 5000, "A": 2**64 - 1},
        {"k": 'a "quote"'}, {"k": "back\\slash"}, {"k": "new\nline"}, {"k": "\x00\x1f"},
        {"k": "del\x7f"}, {'qu"ote': 1}, {"tab\t": 1}, {"b": "2", "a": "1", "B": "0"},
        {"f": 1.5}, {"n": [1, "x"]}, {"m": {"x": 1}},
    ],
)
def test_rev_ids_are_checked_exactly(body: dict[str, Any]) -> None:
    for parent, deleted in ((None, False), (PARENT, False), (PARENT, True)):
        rev = revs.make_rev_id(parent, deleted, body)
        fast = flat_canonical(parent or "", deleted, body)
        assert fast is None or fast == encoded_canonical(parent, deleted, body)
        assert matches(rev, parent, deleted, body)
        forged = rev[:-1] + ("0" if rev[-1] != "0" else "1")
        assert not matches(forged, parent, deleted, body)
        assert not matches(rev, parent, not deleted, body)


def test_a_non_boolean_deleted_flag_is_not_taken_for_one() -> None:
    assert flat_canonical("", 1, {"a": 1}) is None  # type: ignore[arg-type]
