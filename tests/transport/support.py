"""Shared rigs for transport tests: a running listener, raw peers, a throwaway cert."""

from __future__ import annotations

import base64
import datetime
import ssl
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketStream
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Event, Request

from engine.errors import NetworkError
from engine.sync.listener import Listener
from engine.sync.listenerstatus import ListenerEvent
from engine.sync.wsserver import ServerChannel, WebSocketSettings

USERS = {"alice": "wonderland", "bob": "builder"}
DB = "userdb"


@dataclass
class AuthLog:
    """An authenticator over USERS that records every call."""

    calls: list[tuple[str, str]] = field(default_factory=list)

    async def __call__(self, user: str, password: str, address: str) -> bool:
        self.calls.append((user, address))
        return USERS.get(user) == password


async def echo(channel: ServerChannel, db: str) -> None:
    """Echo every frame back, marked busy while doing it."""
    while True:
        try:
            frame = await channel.receive()
        except NetworkError:
            return
        with channel.busy():
            await channel.send(frame)


@asynccontextmanager
async def running_listener(
    handler: Callable[[ServerChannel, str], Awaitable[None]] = echo,
    *,
    ssl_context: ssl.SSLContext | None = None,
    settings: WebSocketSettings | None = None,
    auth: AuthLog | None = None,
    **kw: Any,
) -> AsyncIterator[Listener]:
    listener = Listener(
        handler, authenticate=auth or AuthLog(), databases={DB}, host="127.0.0.1",
        ssl_context=ssl_context, settings=settings, **kw,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(listener.serve)
        try:
            yield listener
        finally:
            with anyio.fail_after(10):
                await listener.stop()


def url(listener: Listener, db: str = DB) -> str:
    return listener.urls[0] + db


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def http_exchange(port: int, request: bytes) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        return await read_to_end(stream)


async def read_to_end(stream: ByteStream) -> bytes:
    data = b""
    while True:
        try:
            data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return data


def upgrade_request(path: str | None = None, authorization: str | None = None,
                    websocket: bool = True) -> bytes:
    lines = [f"GET {path or '/' + DB} HTTP/1.1", "Host: 127.0.0.1"]
    if websocket:
        lines += ["Upgrade: websocket", "Connection: Upgrade",
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"]
    if authorization is not None:
        lines.append(f"Authorization: {authorization}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class RawClient:
    """A bare wsproto client over a socket: it does only what the test tells it."""

    def __init__(self, stream: ByteStream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)

    @classmethod
    @asynccontextmanager
    async def connect(cls, port: int, user: str = "alice") -> AsyncIterator[RawClient]:
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            client = cls(stream)
            await client.send(Request(
                host="127.0.0.1", target="/" + DB,
                extra_headers=[(b"authorization", basic(user, USERS[user]).encode())],
            ))
            event = await client.next_event()
            assert isinstance(event, AcceptConnection), event
            yield client

    async def send(self, event: Event) -> None:
        await self.stream.send(self.ws.send(event))

    async def next_event(self) -> Event:
        while True:
            for event in self.ws.events():
                return event
            try:
                data = await self.stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                data = b""
            self.ws.receive_data(data or None)
            if not data:
                for event in self.ws.events():
                    return event
                raise EOFError("closed")


@asynccontextmanager
async def raw_server(
    handler: Callable[[SocketStream], Awaitable[None]],
) -> AsyncIterator[int]:
    """A TCP server on 127.0.0.1 running `handler` per connection; yields its port."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)

        async def closing(stream: SocketStream) -> None:
            async with stream:
                await handler(stream)

        async def serve() -> None:
            await listener.serve(closing)

        tg.start_soon(serve)
        try:
            yield port
        finally:
            tg.cancel_scope.cancel()


async def accept_raw_upgrade(stream: ByteStream) -> WSConnection:
    """Server side: read an upgrade request and accept it, whatever it says."""
    ws = WSConnection(ConnectionType.SERVER)
    while True:
        ws.receive_data(await stream.receive())
        for event in ws.events():
            if isinstance(event, Request):
                await stream.send(ws.send(AcceptConnection()))
                return ws


@dataclass
class Identity:
    cert_pem: bytes
    key_pem: bytes
    der: bytes
    directory: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert = self.directory / "cert.pem"
        key = self.directory / "key.pem"
        cert.write_bytes(self.cert_pem)
        key.write_bytes(self.key_pem)
        ctx.load_cert_chain(cert, key)
        return ctx

    def trusting_client_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this certificate (pinned via CA store)."""
        ctx = ssl.create_default_context(cadata=self.cert_pem.decode())
        ctx.check_hostname = False
        return ctx


def make_identity(common_name: str = "listsync-test") -> Identity:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return Identity(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        der=cert.public_bytes(serialization.Encoding.DER),
        directory=Path(tempfile.mkdtemp(prefix="listsync-tls-")),
    )


async def next_event_of(events: AsyncIterator[ListenerEvent], kind: type[Any]) -> Any:
    async for event in events:
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__}")
