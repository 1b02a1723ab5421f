"""A client's websocket frames read on the server side (RFC 6455 section 5), sans-IO.

Theory of operation: `FrameReader.feed()` takes bytes as they come off the socket
and returns the events they complete, in order: whole binary `Message`s, `Ping`s,
`Pong`s, then the peer's `Close` or one `Refused` (the peer broke the protocol or our
size limit; the code says which close to send). After either of those the reader
takes nothing more: bytes after a close are not read. A message's payload is copied
from the socket reads into one buffer (kept for the next message), unmasked there read
by read (the key's phase carried across reads), and copied out whole as bytes. The size
limit is checked against each frame's declared length, so nothing past it is ever
buffered.

The checks, and their order, are wsproto's (so a stream it refuses, we refuse with the
same code), with one deliberate difference: a text frame is refused (1003) at its
header, where wsproto first decodes the text and gives 1007 for bad UTF-8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from engine.sync.wsframe import (
    LOCAL_ONLY_CODES,
    NO_STATUS,
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    mask_in_place,
)

_MAX_HEADER = 14  # 2 bytes, an 8-byte length, a 4-byte mask key
_KEEP = 64 * 1024  # a message buffer this small is always kept
_OPCODES = frozenset((OP_CONTINUATION, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG))
# Codes 1000-2999 a peer may send: the ones RFC 6455 and its registry define.
_KNOWN_CODES = frozenset((*range(1000, 1004), *range(1005, 1014), 1015))


@dataclass(frozen=True, slots=True)
class Message:
    """A whole binary message."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """The peer pinged us; answer with a pong carrying the same payload."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Pong:
    """The peer answered a ping (or sent an unsolicited pong)."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The peer's close frame (code 1005 when it carried no payload)."""

    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Refused:
    """The peer's bytes broke the protocol or a limit: close with `code`."""

    code: int  # 1002 protocol error, 1003 text frame, 1007 bad UTF-8, 1009 too big
    reason: str  # what was wrong, a short phrase


Event = Message | Ping | Pong | Close | Refused


class _Refusal(Exception):
    def __init__(self, reason: str, code: int = 1002) -> None:
        super().__init__(reason)
        self.code = code


class FrameReader:
    """Parses one client's frames; messages over `max_message` bytes are refused."""

    def __init__(self, max_message: int) -> None:
        self.max_message = max_message
        self.finished = False  # a close or a refusal came: nothing more is read
        self._head = bytearray()  # an incomplete frame header
        self._left = 0  # payload bytes of the current frame still to come
        self._opcode = 0  # of the current frame
        self._fin = False
        self._key = b""
        # The message so far is _buf[:_fill], unmasked. The buffer is kept from message
        # to message: a fresh one per 1 MiB message (its page faults again) made this
        # path 3.3 µs/KB, the kept one 1.7 (tests/bench/ws_read.py, fresh processes).
        self._buf = bytearray()
        self._fill = 0
        self._start = 0  # where the current data frame's payload begins in _buf
        self._size = 0  # bytes the message's frames declared so far
        self._in_message = False  # a fragmented message is under way
        self._control = bytearray()  # the current control frame's payload

    def feed(self, data: bytes) -> list[Event]:
        """Events completed by `data` (read from the socket after what came before)."""
        events: list[Event] = []
        if self.finished:
            return events
        end = len(data)
        try:
            if self._left >= end and end and not self._opcode & 0x8:
                # The common case under load: the whole read is payload of a big frame.
                self._take(data, end)
                if not self._left:
                    self._complete(events)
                return events
            view = memoryview(data)
            pos = 0
            while pos < end and not self.finished:
                if self._left:
                    take = min(self._left, end - pos)
                    if self._opcode & 0x8:
                        self._control += view[pos:pos + take]
                        self._left -= take
                    else:
                        self._take(view[pos:pos + take], take)
                    pos += take
                    if not self._left:
                        self._complete(events)
                else:
                    pos = self._read_header(data, pos, events)
        except _Refusal as refusal:
            events.append(Refused(refusal.code, str(refusal)))
            self._finish()
        return events

    def _take(self, data: bytes | memoryview, size: int) -> None:
        """Copy in and unmask `size` payload bytes of the current data frame."""
        fill = self._fill
        # (Grows the buffer only as payload arrives: a header alone costs no memory.)
        self._buf[fill:fill + size] = data
        phase = (fill - self._start) & 3
        mask_in_place(self._buf, self._key[phase:] + self._key[:phase], fill, fill + size)
        self._fill = fill + size
        self._left -= size

    def _read_header(self, data: bytes, pos: int, events: list[Event]) -> int:
        """Parse the frame header at data[pos:] (after any kept part); the new pos."""
        head = self._head
        if not head:
            used = self._parse_header(data, pos, events)
            if not used:
                self._head = bytearray(data[pos:])
                return len(data)
            return pos + used
        kept = len(head)
        head += data[pos:pos + _MAX_HEADER - kept]
        used = self._parse_header(head, 0, events)
        if not used:
            return len(data)  # (all of it went into head: a header is at most 14 bytes)
        self._head = bytearray()
        return pos + used - kept

    def _parse_header(self, buf: bytes | bytearray, at: int, events: list[Event]) -> int:
        """Start the frame whose header is at buf[at:]: its length, or 0 if incomplete."""
        avail = len(buf) - at
        if avail < 2:
            return 0
        b0, b1 = buf[at], buf[at + 1]
        opcode = b0 & 0x0F
        if opcode not in _OPCODES:
            raise _Refusal(f"invalid opcode {opcode:#x}")
        fin = bool(b0 & 0x80)
        control = bool(opcode & 0x8)
        if control and not fin:
            raise _Refusal("a fragmented control frame")
        length = b1 & 0x7F
        if control and length > 125:
            raise _Refusal("a control frame longer than 125 bytes")
        used = 2
        if length == 126:
            if avail < 4:
                return 0
            (length,) = struct.unpack_from("!H", buf, at + 2)
            if length <= 125:
                raise _Refusal("a 2-byte length where 1 byte would do")
            used = 4
        elif length == 127:
            if avail < 10:
                return 0
            (length,) = struct.unpack_from("!Q", buf, at + 2)
            if length <= 0xFFFF:
                raise _Refusal("an 8-byte length where 2 bytes would do")
            if length >> 63:
                raise _Refusal("an 8-byte length with its top bit set")
            used = 10
        if b0 & 0x70:
            raise _Refusal("reserved bits set with no extension negotiated")
        if not b1 & 0x80:
            raise _Refusal("an unmasked frame from a client")
        if avail < used + 4:
            return 0
        key = bytes(buf[at + used:at + used + 4])
        used += 4
        if not control:
            self._check_data_frame(opcode, length)
            self._start = self._fill
        self._opcode, self._fin, self._key, self._left = opcode, fin, key, length
        if not length:
            self._complete(events)
        return used

    def _check_data_frame(self, opcode: int, length: int) -> None:
        if opcode == OP_CONTINUATION:
            if not self._in_message:
                raise _Refusal("a continuation frame outside a fragmented message")
        elif self._in_message:
            raise _Refusal("a new message inside a fragmented one")
        elif opcode == OP_TEXT:
            raise _Refusal("a text frame", 1003)
        self._size += length
        if self._size > self.max_message:
            # Refused on the declared length: the payload is never buffered.
            raise _Refusal(f"a message over {self.max_message} bytes", 1009)

    def _complete(self, events: list[Event]) -> None:
        """The current frame's payload is all here."""
        opcode = self._opcode
        if opcode & 0x8:
            payload = self._control
            self._control = bytearray()
            mask_in_place(payload, self._key)
            if opcode == OP_PING:
                events.append(Ping(bytes(payload)))
            elif opcode == OP_CLOSE:
                events.append(_close_event(payload))
                self._finish()
            else:
                events.append(Pong(bytes(payload)))
            return
        if not self._fin:
            self._in_message = True
            return
        events.append(Message(bytes(memoryview(self._buf)[:self._fill])))
        if len(self._buf) > max(4 * self._fill, _KEEP):
            self._buf = bytearray()  # kept only while messages of about its size come
        self._fill = 0
        self._size = 0
        self._in_message = False

    def _finish(self) -> None:
        self.finished = True
        self._buf = bytearray()  # (memory back at once, not when the channel goes)
        self._control = bytearray()
        self._head = bytearray()
        self._left = 0


def _close_event(payload: bytearray) -> Close:
    if not payload:
        return Close(NO_STATUS, "")
    if len(payload) == 1:
        raise _Refusal("a close frame with a 1-byte payload")
    (code,) = struct.unpack_from("!H", payload)
    if not 1000 <= code <= 4999:
        raise _Refusal(f"close code {code} out of range")
    if code in LOCAL_ONLY_CODES:
        raise _Refusal(f"close code {code}, which is for local use only")
    if code <= 2999 and code not in _KNOWN_CODES:
        raise _Refusal(f"reserved close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError as err:
        raise _Refusal("a close reason that is not valid UTF-8", 1007) from err
    return Close(code, reason)
