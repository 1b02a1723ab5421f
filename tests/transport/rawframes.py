"""Client frames built field by field for the frame reader's tests: any opcode, bits,
length encoding and key, so that the broken ones can be built as easily as the good."""

from __future__ import annotations

import struct

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request

from engine.sync.wsframe import mask_in_place

TEXT, BINARY, CONTINUATION, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame(
    opcode: int, payload: bytes = b"", *, fin: bool = True, key: bytes | None = b"k3y!",
    rsv: int = 0, length: int | None = None, length_form: str = "minimal",
) -> bytes:
    """One frame; `key=None` leaves it unmasked, `length` overrides the declared length,
    `length_form` "7", "16" or "64" forces that length encoding."""
    declared = len(payload) if length is None else length
    if length_form == "minimal":
        length_form = "7" if declared < 126 else "16" if declared < 65536 else "64"
    bit = 0x80 if key is not None else 0
    head = bytes(((0x80 if fin else 0) | (rsv << 4) | opcode,))
    if length_form == "7":
        head += bytes((bit | declared,))
    elif length_form == "16":
        head += bytes((bit | 126,)) + struct.pack("!H", declared)
    else:
        head += bytes((bit | 127,)) + struct.pack("!Q", declared)
    if key is None:
        return head + payload
    body = bytearray(payload)
    mask_in_place(body, key)
    return head + key + bytes(body)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


def wsproto_server() -> WSConnection:
    """A server-side wsproto connection past a real handshake, as the listener had."""
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="x", target="/db")))
    assert isinstance(next(server.events()), Request)
    server.send(AcceptConnection())
    return server
