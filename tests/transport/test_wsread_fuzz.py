"""Differential fuzz: our frame reader against wsproto, the reader the listener used before.

Random frame sequences (fragments, keys, opcodes, bits, length forms, control frames
between fragments), randomly corrupted and cut into random reads, go into a
`FrameReader` and into a server-side wsproto connection read the way ServerChannel
read it (message parts joined, our size limit counted, text refused with 1003, a parse
failure a refusal with wsproto's code). Both must deliver the same messages, pings
and pongs, and end the same way: the same close, or a refusal with the same code.

Deliberate differences, normalised below:
- Our reader decides at a frame's header (text 1003, over the limit 1009, a broken
  fragment sequence 1002); wsproto only once payload bytes arrive. So each stream is
  also run with zero padding after it (enough to reach any decision), and without,
  where our reader may refuse a stream wsproto has not finished reading.
- A text frame whose first bytes are not UTF-8: wsproto refuses it with 1007 (it
  decodes text); we refuse every text frame with 1003, as the listener always did
  for the text wsproto could decode.
"""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage

from engine.sync.wsread import Close, FrameReader, Message, Refused
from engine.sync.wsread import Ping as RPing
from engine.sync.wsread import Pong as RPong
from tests.transport.rawframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    close_payload,
    frame,
    wsproto_server,
)

Outcome = list[tuple[Any, ...]]
SIZES = [0, 1, 2, 5, 30, 125, 126, 127, 200, 1000, 65535, 65536, 65537]


def old_listener(reads: list[bytes], limit: int) -> Outcome:
    """What ServerChannel over wsproto made of these reads."""
    ws = wsproto_server()
    got: Outcome = []
    parts: list[bytes] = []
    size = 0
    for data in reads:
        ws.receive_data(data)
        for event in ws.events():
            if isinstance(event, BytesMessage):
                size += len(event.data)
                if size > limit:
                    return [*got, ("refused", 1009)]
                parts.append(bytes(event.data))
                if event.message_finished:
                    got.append(("message", b"".join(parts)))
                    parts, size = [], 0
            elif isinstance(event, TextMessage):
                return [*got, ("refused", 1003)]
            elif isinstance(event, Ping | Pong):
                got.append((type(event).__name__.lower(), bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                if ws.state is ConnectionState.OPEN:  # a frame wsproto could not parse
                    text_decode = event.code == 1007 and not event.reason.startswith(
                        "Error decoding CLOSE reason")
                    return [*got, ("refused", 1003 if text_decode else int(event.code))]
                return [*got, ("close", int(event.code), event.reason)]
    return got


def new_reader(reads: list[bytes], limit: int) -> Outcome:
    reader = FrameReader(limit)
    got: Outcome = []
    for data in reads:
        for event in reader.feed(data):
            if isinstance(event, Message):
                got.append(("message", event.data))
            elif isinstance(event, RPing | RPong):
                got.append((type(event).__name__.lower(), event.payload))
            elif isinstance(event, Close):
                return [*got, ("close", event.code, event.reason)]
            elif isinstance(event, Refused):
                return [*got, ("refused", event.code)]
    return got


KINDS = ["message"] * 6 + ["ping", "pong", "close", "close", "text"] + ["odd"] * 4
CLOSE_CODES = [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1011, 1013, 1014, 1015, 2999,
               3000, 4999, 5000, 999, 0, 65535]


def frames(rng: random.Random) -> bytes:
    """A mostly valid frame sequence: messages in fragments, control frames between,
    and frames with one header field changed (drawn from `rng`: uniform, reproducible)."""
    out = b""
    for _ in range(rng.randint(1, 5)):
        kind = rng.choice(KINDS)
        key = rng.randbytes(4)
        if kind == "message":
            count = rng.choice([1, 1, 2, 3, 4])
            sizes = [rng.choice(SIZES if count == 1 else SIZES[:10]) for _ in range(count)]
            for i, n in enumerate(sizes):
                out += frame(BINARY if i == 0 else CONTINUATION, rng.randbytes(n),
                             fin=i == count - 1, key=rng.randbytes(4))
                if rng.random() < 0.2:
                    out += frame(rng.choice([PING, PONG]), rng.randbytes(3), key=key)
        elif kind in ("ping", "pong"):
            out += frame(PING if kind == "ping" else PONG,
                         rng.randbytes(rng.choice([0, 1, 125])), key=key)
        elif kind == "close":
            reason = rng.choice([b"", b"bye", "é".encode(), b"\xc3(", b"\xff"])
            payload = close_payload(rng.choice(CLOSE_CODES), reason)
            out += frame(CLOSE, rng.choice([b"", b"\x03", payload, payload]), key=key)
        elif kind == "text":
            out += frame(TEXT, rng.choice([b"", b"hello", "é".encode(), b"\xff"]), key=key)
        else:  # a good frame with one header field changed
            field = rng.choice(["opcode", "opcode", "fin", "key", "rsv", "length_form"])
            fields: dict[str, Any] = {"key": None if field == "key" else key}
            if field == "fin":
                fields["fin"] = False
            elif field == "rsv":
                fields["rsv"] = rng.randint(1, 7)
            elif field == "length_form":
                fields["length_form"] = rng.choice(["7", "16", "64"])
            opcode = rng.randint(0, 15) if field == "opcode" else rng.choice(
                [BINARY, CONTINUATION, PING, CLOSE])
            out += frame(opcode, rng.randbytes(rng.choice(SIZES[:8])), **fields)
    return out


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    data = bytearray(frames(random.Random(draw(st.integers(0, 2**32)))))
    for _ in range(draw(st.integers(0, 3))):  # corruptions: flip, insert, cut
        how = draw(st.sampled_from(["flip", "insert", "cut"]))
        at = draw(st.integers(0, len(data)))
        if how == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif how == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif how == "cut":
            del data[at:]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return bytes(data), cuts


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def same_outcome(data: bytes, cuts: list[int], limit: int) -> None:
    padded = split(data + bytes(limit + 200), cuts)  # (zeros end any frame, then refuse)
    assert new_reader(padded, limit) == old_listener(padded, limit)
    plain = split(data, cuts)
    new, old = new_reader(plain, limit), old_listener(plain, limit)
    if new != old:  # only where we decided at a header that wsproto has not read past
        assert new[:-1] == old and new[-1][0] == "refused", (new, old)
        assert old_listener(padded, limit)[-1][0] == "refused"


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=streams(), limit=st.sampled_from([100, 1000, 70000]))
@example(stream=(frame(BINARY, b"x" * 1001), [3]), limit=1000)
@example(stream=(frame(TEXT, b"\xffabc"), []), limit=1000)
@example(stream=(frame(CLOSE, close_payload(1000, b"\xc3(")), []), limit=1000)
@example(stream=(frame(BINARY, b"a", fin=False) + frame(PING, b"p")
                 + frame(CONTINUATION, b"b"), [1, 7, 9]), limit=100)
def test_the_reader_and_wsproto_agree_on_random_streams(
    stream: tuple[bytes, list[int]], limit: int
) -> None:
    same_outcome(*stream, limit)


@settings(max_examples=300, deadline=None)
@given(code=st.sampled_from(CLOSE_CODES) | st.integers(0, 65535),
       reason=st.sampled_from([b"", b"bye", b"\xc3(", b"\xff"]) | st.binary(max_size=123),
       before=st.sampled_from([b"", frame(BINARY, b"a", fin=False), frame(PING, b"p")]))
def test_the_reader_and_wsproto_agree_on_every_close_payload(
    code: int, reason: bytes, before: bytes
) -> None:
    data = before + frame(CLOSE, close_payload(code, reason)) + frame(BINARY, b"after")
    same_outcome(data, [], 1000)
