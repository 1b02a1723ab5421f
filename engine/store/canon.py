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
    character for escapes; here one bytes.translate over all the text does (a 1 KB
    body: ~1.5 us less)."""
    if type(deleted) is not bool or type(parent) is not str:
        return None
    try:
        head = parent.encode()
        out = [b'["', head, b'",true,{' if deleted else b'",false,{']
        texts = [head]
        first = True
        for key in sorted(body):
            if type(key) is not str:
                return None
            value = body[key]
            kind = type(value)
            name = key.encode()
            texts.append(name)
            if kind is str:
                text = value.encode()
                texts.append(text)
                out += (b'"' if first else b',"', name, b'":"', text, b'"')
            elif kind is int:
                out += (b'"' if first else b',"', name, b'":', b"%d" % value)
            elif kind is bool or value is None:
                out += (b'"' if first else b',"', name,
                        b'":true' if value is True else b'":false' if value is False
                        else b'":null')
            else:
                return None
            first = False
    except (UnicodeEncodeError, TypeError):  # a surrogate; a key that is not a string
        return None
    checked = b"".join(texts)
    if len(checked.translate(None, _ESCAPED)) != len(checked):
        return None
    out.append(b"}]")
    return b"".join(out)
