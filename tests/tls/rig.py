"""One real TLS connection over 127.0.0.1: a server context against a client validation.

The client sends a fake credential only after `verify_server_cert` passed, as
the connector does, so tests can assert a refused server never received it.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import anyio
from anyio.abc import SocketAttribute
from anyio.streams.tls import TLSAttribute, TLSStream

from engine.net.validation import ClientAuth, ClientTLS

CREDENTIAL = b"Authorization: Basic Ym9iOnBhc3N3b3Jk"


@dataclass
class Result:
    client_error: BaseException | None = None
    server_error: BaseException | None = None
    server_received: bytes = b""
    server_saw_client_cert: bytes | None = None

    @property
    def accepted(self) -> bool:
        return (self.client_error is None and self.server_error is None
                and self.server_received == CREDENTIAL)


async def connect_once(server_ctx: ssl.SSLContext, client: ClientTLS, *,
                       hostname: str = "localhost",
                       client_auth: ClientAuth | None = None) -> Result:
    result = Result()
    with anyio.fail_after(10):
        async with await anyio.create_tcp_listener(local_host="127.0.0.1") as multi:
            listener = multi.listeners[0]
            port = listener.extra(SocketAttribute.local_port)

            async def serve_one() -> None:
                sock = await listener.accept()
                try:
                    tls = await TLSStream.wrap(sock, server_side=True, ssl_context=server_ctx,
                                               standard_compatible=False)
                    result.server_saw_client_cert = tls.extra(
                        TLSAttribute.peer_certificate_binary)
                    if client_auth is not None:
                        client_auth.check_peer(result.server_saw_client_cert)
                    result.server_received = await tls.receive()
                    await tls.aclose()
                except Exception as err:  # the rig records whatever refused the peer
                    result.server_error = err
                    await sock.aclose()

            async with anyio.create_task_group() as tg:
                tg.start_soon(serve_one)
                try:
                    stream = await anyio.connect_tcp(
                        "127.0.0.1", port, ssl_context=client.ssl_context, tls_hostname=hostname,
                        tls_standard_compatible=False)
                except Exception as err:
                    result.client_error = err
                    return result
                async with stream:
                    try:
                        der = stream.extra(TLSAttribute.peer_certificate_binary)
                        assert der is not None
                        client.verify_server_cert(der)
                        await stream.send(CREDENTIAL)
                    except Exception as err:
                        result.client_error = err
    return result
