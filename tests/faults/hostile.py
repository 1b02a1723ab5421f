"""Generators of hostile frames and journal damage for the fuzz tests (seeded, so a
failure is reproducible; failing inputs go to tests/faults/regressions/)."""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import msgpack


class RawStr:
    """A msgpack str whose bytes need not be UTF-8."""

    def __init__(self, data: bytes) -> None:
        self.data = data


REGRESSIONS = Path(__file__).parent / "regressions"
KINDS = ["hello", "subscribe", "changes", "caught_up", "missing", "propose", "proposed",
         "revs", "ack", "get_blob", "blob_chunk", "ping", "pong", "error", "bogus"]
HOSTILE_IDS: list[Any] = [
    "", "_design", "../../etc/passwd", "/abs", "a\x00b", "\x7f", "x" * 251, "é" * 126,
    RawStr(b"\xed\xa0\x80"), "con", ".", "..", 7, None, ["list"], {"a": 1}, b"bytes", True, -1,
]
HOSTILE_DIGESTS: list[Any] = [
    "sha256-../../journal", "sha256-" + "g" * 64, "sha256-" + "A" * 64, "md5-" + "0" * 32,
    "sha256-" + "0" * 63, "sha256-" + "0" * 64 + "/x", "", None, 12, "sha256-" + "0" * 64,
]
HOSTILE_REVS: list[Any] = ["1-" + "0" * 32, "0-" + "0" * 32, "x-y", "9999999999-" + "a" * 32,
                           "1-" + "Z" * 32, "", None, 3, "2-" + "f" * 32]
NUMBERS: list[Any] = [0, -1, 2**31, 2**63 - 1, -(2**63), 2**64 - 1, 1.5, float("nan"), None]




def _pack(value: Any) -> bytes:
    """msgpack, with RawStr written as a (possibly invalid) str."""
    if isinstance(value, RawStr):
        n = len(value.data)
        head = bytes([0xA0 | n]) if n < 32 else b"\xd9" + bytes([n]) if n < 256 else (
            b"\xda" + struct.pack(">H", n))
        return head + value.data
    if isinstance(value, dict):
        n = len(value)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
        return head + b"".join(_pack(k) + _pack(v) for k, v in value.items())
    if isinstance(value, list):
        n = len(value)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
        return head + b"".join(_pack(v) for v in value)
    return msgpack.packb(value, use_bin_type=True)


def _value(rng: random.Random, depth: int = 0) -> Any:
    pick = rng.randrange(12)
    if pick == 0:
        return rng.choice(HOSTILE_IDS)
    if pick == 1:
        return rng.choice(HOSTILE_DIGESTS)
    if pick == 2:
        return rng.choice(HOSTILE_REVS)
    if pick == 3:
        return rng.choice(NUMBERS)
    if pick == 4:
        return RawStr(rng.choice([b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"ok\x80"]))
    if pick == 5 and depth < 3:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if pick == 6 and depth < 3:
        return {rng.choice(["doc", "rev", "body", "x"]): _value(rng, depth + 1)
                for _ in range(rng.randrange(3))}
    if pick == 7:
        return _nested(rng.randrange(20, 200))
    if pick == 8:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(8)))
    return rng.choice(["list", "x", "t", True, False, 1])


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _revision(rng: random.Random) -> dict[str, Any]:
    rev = {"doc": rng.choice(HOSTILE_IDS + ["fine"]), "rev": rng.choice(HOSTILE_REVS),
           "deleted": rng.choice([False, True, 1, None]),
           "history": rng.choice([[], ["1-" + "0" * 32], _value(rng)]),
           "body": rng.choice([{}, {"image": {"@type": "blob", "digest":
                                            rng.choice(HOSTILE_DIGESTS), "length": 5,
                                            "content_type": "x"}}, _value(rng)])}
    if rng.random() < 0.4:  # a delta against a base nobody has
        del rev["body"]
        rev["base"] = rng.choice(HOSTILE_REVS + ["1-" + "e" * 32])
        rev["delta"] = rng.choice([{"n": 1}, [], _value(rng), {"$set": {"a": 1}}])
    return rev


def hostile_frame(rng: random.Random) -> bytes:
    """One frame: mostly well-formed msgpack with hostile contents, sometimes raw garbage."""
    style = rng.randrange(10)
    if style == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    if style == 1:  # a header that declares far more than follows
        return rng.choice([b"\x81\xa1t\xdb\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff",
                           b"\x81\xa1t\xdd\x7f\xff\xff\xff", b"\xc6\xff\xff\xff\xffab",
                           b"\x81\xa1t\xc7\x05\x01abc", b"\xdc\xff\xff" + b"\xc0" * 10])
    if style == 2:
        return _pack({"t": "revs", "id": 2, "batch": 1, "revs": _nested(40)})
    frame: dict[str, Any] = {"t": rng.choice(KINDS)}
    if rng.random() < 0.8:
        frame["id"] = rng.choice([2, 3, 2**40, -5, "2", None])
    fields = ["re", "since", "continuous", "doc_ids", "changes", "docs", "revs", "batch",
              "full", "digest", "offset", "length", "data", "last", "code", "message",
              "gone", "sub", "last_seq", "answers", "version", "peer_id", "db_uuid",
              "features"]
    for name in rng.sample(fields, rng.randrange(1, 6)):
        frame[name] = _value(rng)
    if frame["t"] == "revs" and rng.random() < 0.7:
        frame["revs"] = [_revision(rng) for _ in range(rng.randrange(1, 4))]
    if frame["t"] == "get_blob" and rng.random() < 0.7:
        frame.update(digest=rng.choice(HOSTILE_DIGESTS), offset=rng.choice(NUMBERS),
                     length=rng.choice(NUMBERS))
    if frame["t"] == "propose" and rng.random() < 0.7:
        frame["revs"] = [[rng.choice(HOSTILE_IDS), rng.choice(HOSTILE_REVS)]]
    if rng.random() < 0.3 and isinstance(frame.get("t"), str):
        frame["t"] = RawStr(b"revs\xff")
    return _pack(frame)


def regression_cases(kind: str) -> list[bytes]:
    """Saved failing inputs of one kind (`frame-*.bin`, `journal-*.bin`)."""
    return [p.read_bytes() for p in sorted(REGRESSIONS.glob(f"{kind}-*.bin"))]


def save_regression(kind: str, data: bytes) -> Path:
    import hashlib

    REGRESSIONS.mkdir(exist_ok=True)
    path = REGRESSIONS / f"{kind}-{hashlib.sha256(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


def damage(rng: random.Random, data: bytes) -> bytes:
    """Random damage of a journal: flips, zeroed runs, garbage, cuts, duplicated runs."""
    out = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        if not out:
            break
        kind = rng.randrange(6)
        at = rng.randrange(len(out))
        span = rng.randrange(1, 64)
        if kind == 0:
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            out[at:at + span] = bytes(len(out[at:at + span]))
        elif kind == 2:
            out[at:at] = bytes(rng.randrange(256) for _ in range(span))
        elif kind == 3:
            del out[at:]
        elif kind == 4:
            out[at:at] = out[max(0, at - span):at]
        else:  # a length field that promises gigabytes
            out[at:at + 4] = b"\x7f\xff\xff\xff"
    return bytes(out)
