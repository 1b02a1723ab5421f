"""Body deltas and revision ids: pure functions shared by both ends.

A delta is a map of key -> op, where an op is [0] (delete the key), [1, value]
(set it), [2, delta] (patch a nested map) or [3, length, [[index, op], ...]]
(patch a list: resize to `length`, then apply ops at indices).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.protocol.codec import encode

_DEL, _SET, _MAP, _LIST = 0, 1, 2, 3


class DeltaError(ValueError):
    """A delta does not apply to its base, or the result has the wrong rev id."""


def make_rev_id(parent: str | None, deleted: bool, body: dict[str, Any]) -> str:
    """The rev id of a revision (same formula as the store's, kept pure here)."""
    canonical = json.dumps([parent or "", deleted, body], sort_keys=True,
                           separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    generation = int(parent.split("-", 1)[0]) + 1 if parent else 1
    return f"{generation}-{hashlib.sha256(canonical.encode('utf-8')).hexdigest()[:32]}"


def make_delta(base: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """The delta that turns `base` into `target`."""
    out: dict[str, Any] = {}
    for key in base.keys() - target.keys():
        out[key] = [_DEL]
    for key, value in target.items():
        if key not in base:
            out[key] = [_SET, value]
        elif not _same(base[key], value):
            out[key] = _op(base[key], value)
    return out


def _same(a: Any, b: Any) -> bool:
    # type() too: True == 1 and 1 == 1.0 in Python but not in the canonical JSON.
    return type(a) is type(b) and a == b


def _op(old: Any, new: Any) -> list[Any]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [_MAP, make_delta(old, new)]
    if isinstance(old, list) and isinstance(new, list):
        ops = [[i, _op(old[i], v) if i < len(old) else [_SET, v]]
               for i, v in enumerate(new) if i >= len(old) or not _same(old[i], v)]
        return [_LIST, len(new), ops]
    return [_SET, new]


def delta_if_smaller(base: dict[str, Any], target: dict[str, Any]) -> dict[str, Any] | None:
    """A delta worth sending (encoded smaller than the body), else None."""
    delta = make_delta(base, target)
    return delta if len(encode(delta)) < len(encode(target)) else None


def apply_delta(base: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """`base` patched by `delta` (a new dict; `base` is not modified)."""
    if not isinstance(base, dict) or not isinstance(delta, dict):
        raise DeltaError("A delta and its base must both be maps.")
    out = dict(base)
    for key, op in delta.items():
        if _kind(op) == _DEL and len(op) == 1:
            if key not in out:
                raise DeltaError(f"The delta deletes {key!r:.40}, which the base lacks.")
            del out[key]
        else:
            out[key] = _apply_op(out.get(key), op)
    return out


def _kind(op: Any) -> int:
    if not isinstance(op, list) or not op or type(op[0]) is not int:
        raise DeltaError("A delta op must be a list starting with an op code.")
    return int(op[0])


def _apply_op(old: Any, op: Any) -> Any:
    kind = _kind(op)
    if kind == _SET and len(op) == 2:
        return op[1]
    if kind == _MAP and len(op) == 2:
        if not isinstance(old, dict):
            raise DeltaError("The delta patches a map the base does not have.")
        return apply_delta(old, op[1])
    if kind == _LIST and len(op) == 3 and isinstance(old, list) and type(op[1]) is int:
        if not isinstance(op[2], list) or op[1] < 0:
            raise DeltaError("A list patch needs a length and a list of [index, op].")
        new = old[: op[1]] + [None] * max(0, op[1] - len(old))
        for entry in op[2]:
            if not (isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int
                    and 0 <= entry[0] < op[1]):
                raise DeltaError("A list patch entry is [index, op] with the index in range.")
            index, sub = entry
            new[index] = _apply_op(old[index] if index < len(old) else None, sub)
        return new
    raise DeltaError("The delta holds an op that does not fit the base.")
