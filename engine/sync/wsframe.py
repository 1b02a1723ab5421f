"""Whole websocket frames built in one piece (RFC 6455 section 5.2), and the masking.

wsproto builds a frame by copying the message about six times and, for a
client, masks it in a fresh copy; a 2 MiB revs frame cost the client ~10 ms
that way. Here: one buffer, masked in place, four strided passes.
"""

from __future__ import annotations

import os
import struct

# _XOR[k] maps each byte to itself XOR k: bytes.translate then masks at C speed. Built
# with one int XOR per table (0.2 ms at import, not 3.6 ms byte by byte).
_IDENTITY, _ONES = int.from_bytes(bytes(range(256)), "big"), int.from_bytes(b"\x01" * 256, "big")
_XOR = [(_IDENTITY ^ _ONES * k).to_bytes(256, "big") for k in range(256)]

OP_CONTINUATION, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
# Close codes a peer must never send (RFC 6455 section 7.4.1): they only describe a
# close locally, so a close frame carrying one says "normal closure" instead.
LOCAL_ONLY_CODES = frozenset((1005, 1006, 1015))
NO_STATUS = 1005  # the code of a close frame without a payload


def mask_in_place(buf: bytearray, key: bytes, start: int = 0, end: int | None = None) -> None:
    """XOR buf[start:end] with the 4-byte `key` (masking and unmasking are the same).

    One translate per key byte over every fourth byte: ~1.1 ns/byte here, three
    times faster than XOR through a Python int (measured on 1 MiB and 64 KiB).
    """
    for i in range(4):
        lane = slice(start + i, end, 4)
        buf[lane] = buf[lane].translate(_XOR[key[i]])


def binary_header(length: int, *, masked: bool = False) -> bytes:
    """Header of a final binary frame of `length` bytes (the mask key not included)."""
    bit = 0x80 if masked else 0
    first = 0x80 | OP_BINARY  # FIN set: always one whole frame
    if length < 126:
        return bytes((first, bit | length))
    if length < 65536:
        return struct.pack("!BBH", first, bit | 126, length)
    return struct.pack("!BBQ", first, bit | 127, length)


def masked_frame(payload: bytes, key: bytes | None = None) -> bytes:
    """A client's frame: header, mask key (fresh from os.urandom unless given, as
    RFC 6455 requires it unpredictable), and the payload XORed with the key."""
    return FrameMasker().frame(payload, key)


class FrameMasker:
    """A client's frames (`masked_frame`), built in one buffer kept from frame to frame.

    A fresh buffer per frame costs more than the masking: a 1 MiB revs frame made
    4 MiB of new memory (the frame, the strided lanes, the copy handed out), each
    page a fault, ~1 per document pushed. Kept, and masked 64 KiB at a time, only the
    bytes handed to the stream are new. (Not the buffer itself: a stream may keep
    what it is given.) One per connection."""

    _BLOCK = 64 * 1024  # bytes masked per pass (a multiple of 4: the key's phase holds)

    def __init__(self) -> None:
        self._buf = bytearray()

    def frame(self, payload: bytes, key: bytes | None = None) -> bytes:
        key = os.urandom(4) if key is None else key
        head = binary_header(len(payload), masked=True) + key
        start, end = len(head), len(head) + len(payload)
        buf = self._buf
        if len(buf) < end or len(buf) > 4 * end + 65536:  # (a burst's buffer is let go)
            buf = self._buf = bytearray(end)
        buf[:start] = head
        buf[start:end] = payload
        block = self._BLOCK
        for at in range(start, end, block):
            mask_in_place(buf, key, at, min(at + block, end))
        return bytes(memoryview(buf)[:end])


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A server's (unmasked) ping, pong or close frame; payloads are at most 125 bytes."""
    if len(payload) > 125:
        raise ValueError(f"A control frame carries at most 125 bytes, not {len(payload)}.")
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    """Our close frame, as wsproto builds it: no payload for 1005, 1000 for another
    local-only code, the reason cut to fit 125 bytes on a character boundary."""
    if code == NO_STATUS:
        return control_frame(OP_CLOSE)
    if code in LOCAL_ONLY_CODES:
        code = 1000
    text = reason.encode("utf-8")[:123].decode("utf-8", errors="ignore").encode("utf-8")
    return control_frame(OP_CLOSE, struct.pack("!H", code) + text)
