"""msgpack framing: one frame is one msgpack map, decoded under hard limits.

Size is checked before decoding, msgpack's own length limits bound allocation,
and one iterative walk then bounds nesting and rejects non-JSON values.
"""

from __future__ import annotations

import math
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
    _walk(wire, limits.max_depth)
    return wire


def _walk(root: dict[str, Any], max_depth: int) -> None:
    """Bound nesting; allow only JSON values, plus bytes directly in the envelope."""
    stack: list[tuple[object, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise RemoteProtocolError(
                f"The peer sent a frame nested deeper than {max_depth} levels."
            )
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    raise RemoteProtocolError("The peer sent a map with a non-string key.")
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1))
                elif isinstance(item, bytes) and depth == 1:
                    continue
                else:
                    _check_scalar(item)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict | list):
                    stack.append((item, depth + 1))
                else:
                    _check_scalar(item)


def _check_scalar(value: object) -> None:
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if math.isfinite(value):
            return
        raise RemoteProtocolError("The peer sent a NaN or infinite number.")
    raise RemoteProtocolError(f"The peer sent a value of unsupported type {type(value).__name__}.")
