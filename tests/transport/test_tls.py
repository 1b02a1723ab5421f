"""wss:// with a throwaway self-signed certificate: validation before credentials."""

from __future__ import annotations

import logging
import os

import anyio
import pytest
from anyio.abc import SocketStream
from anyio.streams.tls import TLSStream

from engine.errors import NetworkError, TLSValidationError
from engine.sync.wsclient import connect
from engine.sync.wsserver import WebSocketSettings
from tests.transport.support import (
    USERS,
    Identity,
    make_identity,
    raw_server,
    read_to_end,
    running_listener,
    url,
)

pytestmark = pytest.mark.anyio
ALICE = {"username": "alice", "password": USERS["alice"]}


@pytest.fixture(scope="module")
def identity() -> Identity:
    return make_identity()


async def test_echo_over_wss_with_a_trusted_self_signed_cert(identity: Identity) -> None:
    async with running_listener(ssl_context=identity.server_context()) as listener:
        assert listener.urls[0].startswith("wss://127.0.0.1:")
        async with connect(
            url(listener), **ALICE, ssl_context=identity.trusting_client_context()
        ) as channel:
            frame = os.urandom(3 * 1024 * 1024)
            with anyio.fail_after(10):
                await channel.send(frame)
                assert await channel.receive() == frame


async def test_untrusted_cert_fails_ca_validation(identity: Identity) -> None:
    async with running_listener(ssl_context=identity.server_context()) as listener:
        with anyio.fail_after(5), pytest.raises(TLSValidationError, match="certificate"):
            async with connect(url(listener), **ALICE):
                pass


async def test_verify_server_cert_gets_the_der_before_anything_is_sent(
    identity: Identity,
) -> None:
    seen: list[bytes] = []
    async with running_listener(ssl_context=identity.server_context()) as listener:
        async with connect(url(listener), **ALICE, verify_server_cert=seen.append) as channel:
            await channel.send(b"pinned")
            assert await channel.receive() == b"pinned"
    assert seen == [identity.der]


async def test_wrong_pinned_cert_is_refused_before_credentials_are_sent(
    identity: Identity,
) -> None:
    received: list[bytes] = []
    handshakes = anyio.Event()

    async def recording(stream: SocketStream) -> None:
        tls = await TLSStream.wrap(
            stream, server_side=True, ssl_context=identity.server_context(),
            standard_compatible=False,
        )
        handshakes.set()
        received.append(await read_to_end(tls))

    def refuse(der: bytes) -> None:
        raise TLSValidationError("The peer's certificate is not the pinned one.")

    async with raw_server(recording) as port:
        with anyio.fail_after(5):
            with pytest.raises(TLSValidationError, match="pinned"):
                async with connect(
                    f"wss://127.0.0.1:{port}/userdb", **ALICE, verify_server_cert=refuse
                ):
                    pass
            await handshakes.wait()
            while not received:
                await anyio.wait_all_tasks_blocked()
    assert received == [b""]  # not one HTTP byte, so no Authorization header


async def test_garbage_tls_handshakes_drop_quietly_and_spare_others(
    identity: Identity, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = WebSocketSettings(handshake_timeout=1.0)
    async with running_listener(ssl_context=identity.server_context(),
                                settings=settings) as listener:
        async with connect(url(listener), **ALICE, verify_server_cert=lambda der: None) as ok:
            async def garbage(i: int) -> None:
                async with await anyio.connect_tcp("127.0.0.1", listener.port or 0) as s:
                    junk = [b"\x16\x03\x01\x00\x50" + os.urandom(80),
                            b"GET /userdb HTTP/1.1\r\n\r\n", os.urandom(300)]
                    try:
                        await s.send(junk[i % 3])
                        await read_to_end(s)
                    except OSError:
                        pass

            with anyio.fail_after(15):
                async with anyio.create_task_group() as tg:
                    for i in range(60):
                        tg.start_soon(garbage, i)
                    await ok.send(b"still fine")
                    assert await ok.receive() == b"still fine"
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_plain_client_to_a_tls_listener_is_a_network_error(identity: Identity) -> None:
    async with running_listener(ssl_context=identity.server_context()) as listener:
        plain = url(listener).replace("wss://", "ws://")
        with anyio.fail_after(5), pytest.raises(NetworkError):
            async with connect(plain, **ALICE):
                pass


async def test_tls_client_to_a_plain_listener_is_a_tls_error() -> None:
    async with running_listener() as listener:
        secure = url(listener).replace("ws://", "wss://")
        with anyio.fail_after(5), pytest.raises(TLSValidationError):
            async with connect(secure, **ALICE, verify_server_cert=lambda der: None):
                pass
