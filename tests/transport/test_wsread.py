"""The server's frame reader: what a client's bytes become, whatever their cuts."""

from __future__ import annotations

import os
import random
import tracemalloc

import pytest

from engine.sync.wsread import Close, Event, FrameReader, Message, Ping, Pong, Refused
from tests.transport.rawframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    close_payload,
    frame,
)

LIMIT = 1 << 20


def read(*pieces: bytes, limit: int = LIMIT) -> list[Event]:
    reader = FrameReader(limit)
    return [event for piece in pieces for event in reader.feed(piece)]


def refusal(events: list[Event]) -> int:
    assert events and isinstance(events[-1], Refused), events
    return events[-1].code


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 65537, 300_001])
def test_every_length_encoding_boundary_reads_back(size: int) -> None:
    payload = os.urandom(size)
    assert read(frame(BINARY, payload, key=os.urandom(4))) == [Message(payload)]


@pytest.mark.parametrize("size", [0, 5, 126, 65536])
def test_a_message_cut_anywhere_in_its_header_or_key_reads_the_same(size: int) -> None:
    payload = os.urandom(size)
    data = frame(BINARY, payload, key=os.urandom(4)) + frame(BINARY, b"next")
    for cut in range(1, 20):  # every cut inside the header and mask key, and a bit past
        assert read(data[:cut], data[cut:]) == [Message(payload), Message(b"next")]


def test_a_stream_fed_byte_by_byte_or_in_random_pieces_reads_the_same() -> None:
    rng = random.Random(5)
    payloads = [rng.randbytes(n) for n in (0, 3, 125, 126, 700, 65536, 2)]
    data = b"".join(frame(BINARY, p, key=rng.randbytes(4)) for p in payloads)
    want = [Message(p) for p in payloads]
    assert read(data) == want
    assert read(*(data[i:i + 1] for i in range(len(data)))) == want
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(data)), 12))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert read(*pieces) == want


def test_fragments_with_their_own_keys_and_control_frames_between_make_one_message() -> None:
    data = (frame(BINARY, b"abcde", fin=False, key=b"\x01\x02\x03\x04")
            + frame(PING, b"are you there", key=b"\xff\x00\xff\x00")
            + frame(CONTINUATION, b"", fin=False)
            + frame(PONG, b"yes")
            + frame(CONTINUATION, b"fghij" * 100, fin=False, key=b"\x10\x20\x30\x40")
            + frame(CONTINUATION, b"!", key=b"\x09\x08\x07\x06"))
    want = [Ping(b"are you there"), Pong(b"yes"), Message(b"abcde" + b"fghij" * 100 + b"!")]
    assert read(data) == want
    assert read(*(data[i:i + 3] for i in range(0, len(data), 3))) == want


def test_an_unmasked_client_frame_is_a_protocol_error() -> None:
    assert refusal(read(frame(BINARY, b"plain", key=None))) == 1002


@pytest.mark.parametrize("rsv", [1, 2, 4])
def test_reserved_bits_are_a_protocol_error(rsv: int) -> None:
    assert refusal(read(frame(BINARY, b"x", rsv=rsv))) == 1002


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcodes_are_a_protocol_error(opcode: int) -> None:
    assert refusal(read(frame(opcode, b"x"))) == 1002


@pytest.mark.parametrize("data", [
    frame(PING, b"x", fin=False),
    frame(CLOSE, b"", fin=False),
    frame(PONG, b"p" * 126),
    frame(PING, b"p" * 126, length_form="16"),
], ids=["fragmented ping", "fragmented close", "pong of 126", "ping of 126"])
def test_control_frames_must_be_final_and_short(data: bytes) -> None:
    assert refusal(read(data)) == 1002


@pytest.mark.parametrize("data", [
    frame(BINARY, b"x" * 125, length_form="16"),
    frame(BINARY, b"x" * 65535, length_form="64"),
    frame(BINARY, b"", length=1 << 63),
], ids=["16-bit for 125", "64-bit for 65535", "64-bit top bit"])
def test_lengths_in_a_longer_form_than_needed_or_with_the_top_bit_are_refused(
    data: bytes
) -> None:
    assert refusal(read(data[:14])) == 1002  # refused from the header alone


def test_continuation_outside_a_message_and_a_message_inside_one_are_refused() -> None:
    assert refusal(read(frame(CONTINUATION, b"x"))) == 1002
    start = frame(BINARY, b"a", fin=False)
    assert refusal(read(start + frame(BINARY, b"b"))) == 1002
    assert refusal(read(start + frame(TEXT, b"b"))) == 1002  # the sequence is checked first


def test_a_text_frame_is_refused_with_1003_at_its_header() -> None:
    assert read(frame(TEXT, "héllo".encode())[:6]) == [Refused(1003, "a text frame")]
    assert refusal(read(frame(TEXT, b"\xff\xfe not utf-8"))) == 1003


def test_a_declared_length_over_the_limit_is_refused_before_its_payload() -> None:
    header = frame(BINARY, b"", length=1 << 30)
    assert refusal(read(header, limit=64 * 1024)) == 1009
    assert refusal(read(frame(BINARY, b"x" * 1025)[:8], limit=1024)) == 1009
    assert read(frame(BINARY, b"x" * 1024), limit=1024) == [Message(b"x" * 1024)]


def test_a_header_announcing_a_big_message_costs_no_memory_until_its_payload_comes() -> None:
    reader = FrameReader(LIMIT)
    tracemalloc.start()
    try:
        assert reader.feed(frame(BINARY, b"", length=LIMIT)[:14]) == []
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 4096


def test_fragments_adding_up_past_the_limit_are_refused_at_the_one_that_crosses_it() -> None:
    first, second = frame(BINARY, b"y" * 512, fin=False), frame(CONTINUATION, b"y" * 512,
                                                                fin=False)
    third_header = frame(CONTINUATION, b"y", length=1)[:6]
    assert read(first, second, limit=1024) == []  # exactly at the limit so far: fine
    assert refusal(read(first, second, third_header, limit=1024)) == 1009
    # A new message starts counting from zero.
    whole = frame(BINARY, b"y" * 1024)
    assert read(whole, whole, limit=1024) == [Message(b"y" * 1024)] * 2


def test_messages_before_an_error_are_delivered_and_nothing_after_it_is_read() -> None:
    reader = FrameReader(LIMIT)
    events = reader.feed(frame(BINARY, b"one") + frame(BINARY, b"bad", key=None)
                         + frame(BINARY, b"two"))
    assert events[0] == Message(b"one") and refusal(events) == 1002 and len(events) == 2
    assert reader.finished and reader.feed(frame(BINARY, b"three")) == []


@pytest.mark.parametrize("payload, event", [
    (b"", Close(1005, "")),
    (close_payload(1000), Close(1000, "")),
    (close_payload(1001, "au revoir, élan".encode()), Close(1001, "au revoir, élan")),
    (close_payload(3000), Close(3000, "")),
    (close_payload(4999, b"x" * 123), Close(4999, "x" * 123)),
    (close_payload(1013), Close(1013, "")),
])
def test_a_close_frame_is_read_and_what_follows_it_is_not(payload: bytes, event: Close) -> None:
    reader = FrameReader(LIMIT)
    assert reader.feed(frame(CLOSE, payload) + frame(BINARY, b"after") + b"\xff\x00") == [event]
    assert reader.feed(frame(BINARY, b"later")) == []


@pytest.mark.parametrize("payload, code", [
    (b"\x03", 1002),  # one byte: half a code
    (close_payload(999), 1002),
    (close_payload(5000), 1002),
    (close_payload(1004), 1002),  # reserved
    (close_payload(1005), 1002),  # local use only
    (close_payload(1006), 1002),
    (close_payload(1014), 1002),
    (close_payload(1015), 1002),
    (close_payload(2999), 1002),
    (close_payload(1000, b"\xc3("), 1007),  # reason not UTF-8
])
def test_a_malformed_close_frame_is_refused(payload: bytes, code: int) -> None:
    assert refusal(read(frame(CLOSE, payload))) == code


def test_pings_and_pongs_keep_their_payloads() -> None:
    assert read(frame(PING, b"p" * 125), frame(PONG, b""), frame(PING, b"")) == [
        Ping(b"p" * 125), Pong(b""), Ping(b"")]
