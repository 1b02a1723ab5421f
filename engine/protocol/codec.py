"""msgpack framing: one frame is one msgpack map, decoded under hard limits.

Size is checked before decoding, msgpack's own length limits bound allocation,
and one iterative walk then bounds nesting and rejects non-JSON values (for revs
and changes frames, `wire.parse_frame` walks only what the entries' own checks
leave unproven: the envelope and the bodies).
"""

from __future__ import annotations

import math
from itertools import chain
from typing import Any

import msgpack

from engine.errors import RemoteProtocolError
from engine.protocol.limits import DEFAULT_LIMITS, Limits


def encode(wire: dict[str, Any]) -> bytes:
    """Pack one frame; the caller has already validated its content."""
    packed: bytes = msgpack.packb(wire, use_bin_type=True)
    return packed


def decode(frame: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Unpack one frame from the peer, or raise RemoteProtocolError saying why."""
    wire = unpack(frame, limits)
    walk(wire, limits.max_depth)
    return wire


_PLAIN = frozenset({str, int, bool, type(None)})
_flat = chain.from_iterable
_values = dict.values


def unpack(frame: bytes, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """`decode` without the walk over the values: the caller must prove them JSON-only
    (`walk`, or `first_fault` and `maps_ok` over parts) before anything uses them."""
    if len(frame) > limits.max_frame:
        raise RemoteProtocolError(
            f"The peer sent a {len(frame)}-byte frame; the limit is {limits.max_frame} bytes."
        )
    try:
        wire = msgpack.unpackb(
            frame,
            raw=False,
            strict_map_key=True,
            use_list=True,
            max_str_len=limits.max_str,
            max_bin_len=limits.max_bin,
            max_array_len=limits.max_array,
            max_map_len=limits.max_map,
            max_ext_len=0,
        )
    except UnicodeDecodeError as err:
        raise RemoteProtocolError("The peer sent a string that is not valid UTF-8.") from err
    except msgpack.ExtraData as err:
        raise RemoteProtocolError("The peer sent more than one msgpack value in a frame.") from err
    except (ValueError, TypeError, msgpack.UnpackException, RecursionError) as err:
        raise RemoteProtocolError(
            f"The peer sent a frame that is not valid msgpack ({err})."
        ) from err
    if not isinstance(wire, dict):
        raise RemoteProtocolError("The peer sent a frame that is not a msgpack map.")
    return wire


def maps_ok(maps: list[dict[str, Any]], depth: int, max_depth: int) -> bool:
    """Would the walk accept these maps, found `depth` (> 1) levels down a frame?

    For a frame's bodies, checked in bulk: flat maps of str, int, bool and None (most
    documents) cost two loops in C over all their keys and values; anything else is
    walked as usual."""
    try:
        "".join(_flat(maps))  # TypeError unless every key is a str
    except TypeError:
        return False
    if _PLAIN.issuperset(map(type, _flat(map(_values, maps)))):
        return depth <= max_depth
    return first_fault(maps, depth, max_depth) is None


def walk(root: dict[str, Any], max_depth: int) -> None:
    """Bound nesting; allow only JSON values, plus bytes directly in the envelope."""
    fault = first_fault([root], 1, max_depth)
    if fault is not None:
        raise RemoteProtocolError(fault)


def first_fault(level: list[Any], depth: int, max_depth: int) -> str | None:
    """Why the walk refuses these containers found `depth` levels down a frame (1: the
    envelope), or None: nesting bounded, only JSON values, bytes only in the envelope."""
    # Hot path (every value of every frame): exact type tests, no recursion, and one
    # list per nesting level rather than a (value, depth) pair per container.
    plain = _PLAIN
    while level:
        if depth > max_depth:
            return f"The peer sent a frame nested deeper than {max_depth} levels."
        deeper: list[Any] = []
        push = deeper.append
        for value in level:
            if type(value) is dict:
                for key in value:
                    if type(key) is not str:
                        return "The peer sent a map with a non-string key."
                items = value.values()
            else:
                items = value
            for item in items:
                kind = type(item)
                if kind in plain:
                    continue
                if kind is dict or kind is list:
                    push(item)
                elif kind is float:
                    if not math.isfinite(item):
                        return "The peer sent a NaN or infinite number."
                elif kind is not bytes or depth != 1:
                    return f"The peer sent a value of unsupported type {kind.__name__}."
        level = deeper
        depth += 1
    return None
