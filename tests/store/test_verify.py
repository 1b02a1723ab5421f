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


# Flat bodies made to hit the shortcut's edges: every character JSON escapes, lone
# surrogates (no UTF-8 form), quotes and backslashes in keys and values, bool beside
# int, ints past 64 bits and too long to print, keys that are not strings.
_edgy_text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF)
                     | st.sampled_from('"\\\x00\x1f\x7f\ud800\udfff\u2028é🍎'), max_size=12)
_edgy_scalars = (_edgy_text | st.booleans() | st.none() | st.integers(-(2**70), 2**70)
                 | st.sampled_from([0, 1, -1, 10**5000, True, False]))
_edgy_keys = _edgy_text | st.sampled_from(["a", "b", "A", "é", 'q"', "b\\s", "c\x01"])


def _reference(parent: str, deleted: bool, body: dict[Any, Any]) -> bytes | None:
    try:
        return encoded_canonical(parent or None, deleted, body)
    except (ValueError, TypeError):  # (what json refuses: the shortcut must refuse it too)
        return None


@settings(max_examples=600, deadline=None)
@given(body=st.dictionaries(_edgy_keys, _edgy_scalars, max_size=6)
       | st.dictionaries(st.integers(-3, 3) | st.booleans(), _edgy_scalars, max_size=3),
       deleted=st.booleans(), parent=st.sampled_from(["", PARENT, 'x"y', "a\\b", "\ud800"]))
def test_the_flat_encoding_is_exact_at_the_edges(body: dict[Any, Any], deleted: bool,
                                                 parent: str) -> None:
    fast = flat_canonical(parent, deleted, body)
    assert fast is None or fast == _reference(parent, deleted, body)
    texts = [parent, *(t for t in [*body, *body.values()] if type(t) is str)]
    if fast is None and all(type(k) is str for k in body) and _reference(
            parent, deleted, body) is not None:  # it declines only what JSON escapes
        assert any(c in '"\\' or c < " " for text in texts for c in text)


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
