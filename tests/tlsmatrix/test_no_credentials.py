"""A refused server certificate never sees the Authorization header.

A raw TLS server records every byte it decrypts; the connector, refusing its
certificate after the handshake or in it, must send it no HTTP at all. A
skip-mode client shows the recorder does see the header when one is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

from engine.errors import EngineError, TLSValidationError
from engine.net.identity import Identity, anonymous_identity, server_ssl_context
from engine.net.trust import TrustStore
from engine.net.validation import client_validation
from engine.peer import make_connector
from tests.tlsmatrix.pki import Pki

pytestmark = pytest.mark.anyio


@dataclass
class Recorder:
    port: int = 0
    received: bytearray = field(default_factory=bytearray)
    handshakes: int = 0


@asynccontextmanager
async def recording_server(identity: Identity) -> AsyncIterator[Recorder]:
    """Completes TLS handshakes with `identity`, keeps what clients send, answers nothing."""
    ctx = server_ssl_context(identity)
    recorder = Recorder()

    async def handle(sock: anyio.abc.SocketStream) -> None:
        async with sock:
            try:
                tls = await TLSStream.wrap(sock, server_side=True, ssl_context=ctx,
                                           standard_compatible=False)
            except Exception:  # the client refused the handshake itself
                return
            recorder.handshakes += 1
            while True:
                try:
                    recorder.received += await tls.receive()
                except Exception:
                    return
                if b"\r\n\r\n" in recorder.received:
                    return  # a whole request head: enough to judge

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener, \
            anyio.create_task_group() as tg:
        recorder.port = listener.extra(SocketAttribute.local_port)
        tg.start_soon(listener.serve, handle)
        yield recorder
        tg.cancel_scope.cancel()


async def _connect(tmp: Path, recorder: Recorder, validation: str, **kw: object) -> EngineError:
    tls = client_validation(validation, "127.0.0.1", recorder.port,
                            trust_store=TrustStore(tmp / "known_peers"), **kw)  # type: ignore[arg-type]
    connect = make_connector(f"wss://127.0.0.1:{recorder.port}/userdb", username="bob",
                             password="builder", tls=tls, connect_timeout=3)
    with pytest.raises(EngineError) as caught:
        with anyio.fail_after(10):
            async with connect():
                pass
    return caught.value


async def test_the_recorder_sees_the_header_a_skip_client_sends(tmp_path: Path) -> None:
    async with recording_server(anonymous_identity()) as recorder:
        await _connect(tmp_path, recorder, "skip")  # times out: no answer comes
    assert b"authorization: basic" in bytes(recorder.received).lower()


@pytest.mark.parametrize("case", ["wrong pin", "ca: self-signed", "ca: wrong host",
                                  "pinned: expired", "tofu: changed"])
async def test_no_header_reaches_a_refused_server(case: str, tmp_path: Path, pki: Pki) -> None:
    served, kw = {
        "wrong pin": (anonymous_identity(), {"pinned_cert": anonymous_identity().cert_der}),
        "ca: self-signed": (anonymous_identity(), {"ca_file": pki.file("ca.crt")}),
        "ca: wrong host": (pki.wrong_host, {"ca_file": pki.file("ca.crt")}),
        "pinned: expired": (pki.expired, {"pinned_cert": pki.expired.cert_der}),
        "tofu: changed": (anonymous_identity(), {}),
    }[case]
    validation = case.split(":")[0].replace("wrong pin", "pinned")
    async with recording_server(served) as recorder:
        if validation == "tofu":
            TrustStore(tmp_path / "known_peers").remember_or_get(
                f"127.0.0.1:{recorder.port}", anonymous_identity().fingerprint)
        error = await _connect(tmp_path, recorder, validation, **kw)
    assert type(error) is TLSValidationError, error
    assert bytes(recorder.received) == b""
