"""The ClientTLS pair plugged into httpx the way the connector does it: the context
as `verify=`, the hook on httpcore's `connection.start_tls.complete` trace event,
so a refused server never receives the Authorization header."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSStream

from engine import certs_dir
from engine.errors import TLSValidationError
from engine.net.identity import anonymous_identity, bundled_identity, server_ssl_context
from engine.net.trust import TrustStore
from engine.net.validation import ClientTLS, client_validation

pytestmark = pytest.mark.anyio


async def _get(server_ctx: ssl.SSLContext, make_client: Any) -> tuple[int | BaseException, bytes]:
    seen = bytearray()
    with anyio.fail_after(10):
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as multi:
            listener = multi.listeners[0]
            port = listener.extra(SocketAttribute.local_port)
            client: ClientTLS = make_client(port)

            async def serve_one() -> None:
                sock = await listener.accept()
                try:
                    tls = await TLSStream.wrap(sock, server_side=True, ssl_context=server_ctx,
                                               standard_compatible=False)
                    while b"\r\n\r\n" not in seen:
                        seen.extend(await tls.receive())
                    await tls.send(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except Exception:
                    pass  # the client gave up: what it sent (nothing) is the result
                finally:
                    await anyio.aclose_forcefully(sock)

            async def trace(event: str, info: dict[str, Any]) -> None:
                if event == "connection.start_tls.complete" and "return_value" in info:
                    stream = info["return_value"]
                    try:
                        der = stream.get_extra_info("ssl_object").getpeercert(binary_form=True)
                        client.verify_server_cert(der)
                    except BaseException:
                        # httpcore does not close a stream whose trace hook raised.
                        await stream.aclose()
                        raise

            async with anyio.create_task_group() as tg:
                tg.start_soon(serve_one)
                outcome: int | BaseException
                try:
                    async with httpx.AsyncClient(verify=client.ssl_context) as http:
                        response = await http.get(f"https://127.0.0.1:{port}/userdb",
                                                  auth=("bob", "password"),
                                                  extensions={"trace": trace})
                        outcome = response.status_code
                except Exception as err:
                    outcome = err
                    tg.cancel_scope.cancel()
    return outcome, bytes(seen)


async def test_a_pinned_listener_gets_the_request() -> None:
    pin = certs_dir() / "listener-pinned-cert.cer"
    status, seen = await _get(server_ssl_context(bundled_identity()),
                              lambda port: client_validation("pinned", "127.0.0.1", port,
                                                             pinned_cert=pin))
    assert status == 200 and b"Authorization: Basic" in seen


async def test_a_changed_tofu_certificate_stops_httpx_before_credentials(tmp_path: Path) -> None:
    store = TrustStore.for_data_dir(tmp_path)

    def tofu(port: int) -> ClientTLS:
        # One stable store key, as if the listener came back on its usual port.
        return client_validation("tofu", "127.0.0.1", 4984, trust_store=store)

    status, _ = await _get(server_ssl_context(anonymous_identity()), tofu)
    assert status == 200
    outcome, seen = await _get(server_ssl_context(anonymous_identity()), tofu)
    assert isinstance(outcome, TLSValidationError), outcome
    assert seen == b""
