"""Frames we build ourselves are the frames wsproto would build and parse."""

from __future__ import annotations

import os

import pytest
from wsproto.events import BytesMessage
from wsproto.frame_protocol import FrameProtocol, Opcode, XorMaskerSimple

from engine.sync.wsframe import FrameMasker, binary_header, masked_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 3 * 1024 * 1024 + 3])
def test_a_masked_frame_is_what_a_server_reads(size: int) -> None:
    payload = os.urandom(size)
    server = FrameProtocol(client=False, extensions=[])
    server.receive_bytes(masked_frame(payload))
    frames = list(server.received_frames())
    assert len(frames) == 1
    assert frames[0].opcode is Opcode.BINARY and frames[0].frame_finished
    assert bytes(frames[0].payload) == payload


@pytest.mark.parametrize("size", [0, 5, 126, 70000])
def test_frames_match_wsproto_byte_for_byte(size: int) -> None:
    payload = os.urandom(size)
    client = FrameProtocol(client=True, extensions=[])
    theirs = bytes(client.send_data(payload))
    key_at = len(binary_header(size, masked=True))
    key = theirs[key_at:key_at + 4]  # wsproto's own random key, to compare like for like
    assert masked_frame(payload, key) == theirs
    server = FrameProtocol(client=False, extensions=[])
    assert binary_header(size) == bytes(server.send_data(payload))[:len(binary_header(size))]


def test_each_frame_gets_a_fresh_mask_key() -> None:
    keys = {masked_frame(b"same")[2:6] for _ in range(20)}
    assert len(keys) > 1


def test_bytes_message_round_trip_through_wsproto_connection() -> None:
    from wsproto import ConnectionType, WSConnection
    from wsproto.events import AcceptConnection, Request

    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="x", target="/db")))
    request = next(server.events())
    assert isinstance(request, Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    server.receive_data(masked_frame(b"one") + masked_frame(b"two" * 50_000))
    got = [e for e in server.events() if isinstance(e, BytesMessage)]
    assert b"".join(bytes(e.data) for e in got) == b"one" + b"two" * 50_000


def test_masking_xors_every_byte_with_its_key_byte_for_every_key_byte_value() -> None:
    from engine.sync.wsframe import mask_in_place

    data = bytes(range(256)) * 4
    for k in range(0, 256, 4):
        key = bytes((k, k + 1, k + 2, k + 3))
        for start in (0, 3):
            buf = bytearray(data)
            mask_in_place(buf, key, start)
            want = data[:start] + bytes(b ^ key[i % 4] for i, b in enumerate(data[start:]))
            assert buf == want


def test_a_kept_masker_builds_each_frame_as_a_fresh_one() -> None:
    # Sizes that grow, shrink within the kept buffer, shrink past it (the buffer is let
    # go) and cross 64 KiB mask blocks at odd offsets: stale bytes must never leak.
    masker = FrameMasker()
    server = FrameProtocol(client=False, extensions=[])
    for size in (3 * 65536 + 7, 10, 70001, 0, 1 << 20, 126, 65536 * 2 + 1, 5):
        payload, key = os.urandom(size), os.urandom(4)
        frame = masker.frame(payload, key)
        assert frame == wsproto_frame(payload, key)
        server.receive_bytes(frame)
        (got,) = list(server.received_frames())
        assert bytes(got.payload) == payload


def wsproto_frame(payload: bytes, key: bytes) -> bytes:
    """A client frame of `payload` masked with `key` by wsproto's masker."""
    masked = XorMaskerSimple(key).process(bytearray(payload))
    return binary_header(len(payload), masked=True) + key + bytes(masked)
