"""The canonical JSON of a revision: the bytes hashed into its rev id.

`json.dumps([parent or "", deleted, body], sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)` as UTF-8, the formula every peer must
share byte for byte. Flat bodies (strings, ints, booleans, nulls: most
documents) take a shortcut that gives the same bytes; the rest go through
json's C encoder.
"""

from __future__ import annotations

import json
from typing import Any

# What json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# allow_nan=False) builds on every call; made once since every revision is hashed.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              allow_nan=False)

# The C encoder that `_CANONICAL.encode` builds on every call, built once (a sixth
# of the cost of hashing a 1 KB body). No cycle check (markers=None): a cycle
# recurses until RecursionError, and the retry below gives encode()'s ValueError.
_C_MAKE_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_CANONICAL = None if _C_MAKE_ENCODER is None else _C_MAKE_ENCODER(
    None, _CANONICAL.default, json.encoder.encode_basestring, None, ":", ",", True, False, False)

# Bytes that JSON would escape inside a string (UTF-8 multi-byte sequences have none).
_ESCAPED = bytes(range(32)) + b'"\\'


def canonical(parent: str | None, deleted: bool, body: dict[str, Any]) -> bytes:
    flat = flat_canonical(parent or "", deleted, body)
    return flat if flat is not None else encoded_canonical(parent, deleted, body)


def encoded_canonical(parent: str | None, deleted: bool, body: dict[str, Any]) -> bytes:
    """`canonical` by json's encoder, for any body (the reference formula)."""
    value = [parent or "", deleted, body]
    if _C_CANONICAL is not None:
        try:
            return "".join(_C_CANONICAL(value, 0)).encode("utf-8")
        except RecursionError:
            pass
    return _CANONICAL.encode(value).encode("utf-8")


def flat_canonical(parent: str, deleted: bool, body: dict[str, Any]) -> bytes | None:
    """`canonical` for a body of strings, ints, booleans and nulls with nothing to
    escape (None for anything else). json's C encoder scans each string character by
    character for escapes; here the text is built as one str, encoded once, and one
    bytes.translate over it finds anything JSON would escape: deleting quotes,
    backslashes and control characters must remove exactly the quotes placed here."""
    if type(deleted) is not bool or type(parent) is not str:
        return None
    members = []
    quotes = 2  # the parent's
    try:
        for key in sorted(body):
            if type(key) is not str:
                return None
            value = body[key]
            kind = type(value)
            if kind is str:
                members.append(f'"{key}":"{value}"')
                quotes += 4
                continue
            if kind is int:  # (exact int: bool and IntEnum print differently)
                members.append(f'"{key}":{value!r}')
            elif value is True:
                members.append(f'"{key}":true')
            elif value is False:
                members.append(f'"{key}":false')
            elif value is None:
                members.append(f'"{key}":null')
            else:
                return None
            quotes += 2
        data = f'["{parent}",{"true" if deleted else "false"},{{{",".join(members)}}}]'.encode()
    except (UnicodeEncodeError, TypeError, ValueError):  # a surrogate; keys that don't
        return None  # sort; an int too long to print (json refuses it too)
    if len(data.translate(None, _ESCAPED)) != len(data) - quotes:
        return None
    return data
