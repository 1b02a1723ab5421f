"""The HTTP side of the server handshake: path, Basic auth, then 101.

`accept_websocket` reads one upgrade request (h11, size-limited), answers
404/401/400 with a fixed response or 101, and returns the `ServerChannel`.
"""

from __future__ import annotations

import base64
import binascii

# wsproto decodes the Host header as idna: loaded with the listener, not by its first
# client (which would wait for three modules to load).
import encodings.idna  # noqa: F401
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from urllib.parse import unquote

import h11
from anyio.abc import ByteStream
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection
from wsproto.utilities import RemoteProtocolError as WsRemoteProtocolError

from engine.sync.wsserver import READ_CHUNK, STREAM_ERRORS, ServerChannel, WebSocketSettings

log = logging.getLogger(__name__)

# authenticate(user, password, client host) -> accepted?
Authenticator = Callable[[str, str, str], Awaitable[bool]]
DatabaseFilter = Callable[[str], bool] | Collection[str]


@dataclass(frozen=True)
class Rejection:
    """The upgrade was refused (or never arrived); the response, if any, was sent."""

    status: int | None  # HTTP status sent; None when nothing was sent
    reason: str
    user: str | None = None


def _http_response(status: int, phrase: str, *extra: str) -> bytes:
    body = f"{status} {phrase}\n".encode()
    head = [
        f"HTTP/1.1 {status} {phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *extra,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


UNAUTHORIZED = _http_response(401, "Unauthorized", 'WWW-Authenticate: Basic realm="listsync"')
NOT_FOUND = _http_response(404, "Not Found")
FORBIDDEN = _http_response(403, "Forbidden")
BAD_REQUEST = _http_response(400, "Bad Request")
SERVER_ERROR = _http_response(500, "Internal Server Error")


def parse_basic_auth(value: bytes | None) -> tuple[str, str] | None:
    """(user, password) from an Authorization header value, None if absent or malformed."""
    if value is None:
        return None
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


def _database_allowed(name: str, databases: DatabaseFilter) -> bool:
    if callable(databases):
        return bool(databases(name))
    return name in databases


async def accept_websocket(
    stream: ByteStream,
    *,
    peer_address: str,
    peer_host: str | None = None,
    authenticate: Authenticator,
    databases: DatabaseFilter,
    settings: WebSocketSettings | None = None,
    forbidden: str | None = None,
) -> ServerChannel | Rejection:
    """Read one upgrade request and answer it; the caller applies the handshake timeout.

    Non-websocket requests get 404 at once; missing, malformed or wrong
    credentials get the same 401; only then an unknown database gets 404, so
    an unauthenticated client learns no database names. `authenticate` gets
    `peer_host` (the address without port, for per-host throttling). With
    `forbidden` (why: e.g. a refused client certificate) any request gets 403
    unchecked; it is read first, so the client gets the answer, not a reset.
    """
    settings = settings or WebSocketSettings()
    http = h11.Connection(h11.SERVER, max_incomplete_event_size=settings.max_request_bytes)
    while True:
        try:
            event = http.next_event()
        except h11.RemoteProtocolError:
            await _send_quietly(stream, BAD_REQUEST)
            return Rejection(400, "malformed HTTP request")
        if event is h11.NEED_DATA:
            try:
                data = await stream.receive(READ_CHUNK)
            except STREAM_ERRORS:
                return Rejection(None, "closed before a complete request")
            http.receive_data(data)
            continue
        if isinstance(event, h11.Request):
            break
        return Rejection(None, "closed before a complete request")

    if forbidden is not None:
        await _send_quietly(stream, FORBIDDEN)
        return Rejection(403, forbidden)
    path = event.target.decode("latin-1").split("?", 1)[0]
    ws = WSConnection(ConnectionType.SERVER)
    try:
        if event.method != b"GET":
            raise WsRemoteProtocolError("not GET")
        ws.initiate_upgrade_connection(list(event.headers), event.target)
        list(ws.events())  # the wsproto Request event; its checks already ran
    except WsRemoteProtocolError:
        await _send_quietly(stream, NOT_FOUND)
        return Rejection(404, "not a websocket upgrade request")

    credentials = parse_basic_auth(dict(event.headers).get(b"authorization"))
    if credentials is None:
        await _send_quietly(stream, UNAUTHORIZED)
        return Rejection(401, "missing or malformed credentials")
    user, password = credentials
    try:
        allowed = await authenticate(user, password, peer_host or peer_address)
    except Exception:
        log.warning("The authenticator failed for a client at %s", peer_address, exc_info=True)
        await _send_quietly(stream, SERVER_ERROR)
        return Rejection(500, "authenticator failed", user)
    if not allowed:
        await _send_quietly(stream, UNAUTHORIZED)
        return Rejection(401, "user name or password refused", user)

    db = unquote(path[1:]) if path.startswith("/") else ""
    if not db or "/" in db or not _database_allowed(db, databases):
        await _send_quietly(stream, NOT_FOUND)
        return Rejection(404, "no such database", user)

    try:
        await stream.send(ws.send(AcceptConnection()))
    except STREAM_ERRORS:
        return Rejection(None, "lost during the upgrade", user)
    pending, _closed = http.trailing_data
    return ServerChannel(
        stream, peer_address=peer_address, user=user, db=db,
        settings=settings, pending=bytes(pending),
    )


async def _send_quietly(stream: ByteStream, data: bytes) -> None:
    try:
        await stream.send(data)
    except STREAM_ERRORS:
        pass
