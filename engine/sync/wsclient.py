"""The active peer's websocket connector (httpx-ws), as a `MessageChannel`.

This is the one edge where httpx, httpx-ws, wsproto and ssl exceptions become
engine errors; ExceptionGroups from httpx-ws's task group are unwrapped here.
"""

from __future__ import annotations

import functools
import logging
import math
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import httpcore
import httpx
from httpx_ws import (
    AsyncWebSocketSession,
    HTTPXWSException,
    WebSocketDisconnect,
    WebSocketNetworkError,
    WebSocketUpgradeError,
    aconnect_ws,
)
from httpx_ws._api import EndOfStream as _WsEndOfStream
from wsproto.connection import ConnectionState
from wsproto.events import BytesMessage, CloseConnection, Ping, Pong, TextMessage
from wsproto.utilities import LocalProtocolError as WsLocalProtocolError

from engine.errors import (
    AuthError,
    EngineError,
    LocalProtocolError,
    NetworkError,
    RemoteProtocolError,
    TLSValidationError,
    UsageError,
)
from engine.sync.channel import DEFAULT_MAX_FRAME, MessageChannel
from engine.sync.wsframe import FrameMasker

log = logging.getLogger(__name__)

# Bytes per socket read. A 2 MiB frame read 64 KiB at a time cost the client 4.3-5.4 ms of
# CPU (httpx-ws/wsproto work per read), 256 KiB at a time 2.0-2.9 ms; a peer over our
# frame limit is still refused within one read of it.
READ_CHUNK = 256 * 1024
CONNECT_STEPS = 3  # TCP, TLS, HTTP upgrade: the whole connect may take this many timeouts
CertificateCheck = Callable[[bytes], None]


class _PeerBrokeProtocol(HTTPXWSException):
    """Carries our RemoteProtocolError through httpx-ws's event queue."""

    def __init__(self, error: RemoteProtocolError) -> None:
        super().__init__(str(error))
        self.error = error


class _Session(AsyncWebSocketSession):
    """httpx-ws session with our frame limit, liveness clock and bounded close.

    httpx-ws buffers fragments without limit and answers pings only in its
    reader; this reader counts bytes per message and notes when data arrived.
    """

    def __init__(self, stream: Any, *, max_frame: int, close_timeout: float, **kw: Any) -> None:
        super().__init__(stream, **kw)
        self.max_frame = max_frame
        self.close_timeout = close_timeout
        self.last_seen = anyio.current_time()
        self.delivering = False
        self.peer_close: CloseConnection | None = None
        self._masker = FrameMasker()

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        # httpx-ws writes the close frame unbounded, inside a shield: a peer that
        # stopped reading would hang the exit of `async with` forever.
        with anyio.move_on_after(self.close_timeout) as scope:
            await super().close(code, reason)
        if scope.cancelled_caught:
            with anyio.move_on_after(self.close_timeout):
                await self.stream.aclose()

    async def _write(self, data: bytes) -> None:
        async with self._write_lock:
            await self.stream.write(data)

    async def send_frame(self, payload: bytes) -> None:
        """`send_bytes`, with the frame built by our `FrameMasker` rather than wsproto
        (which only tracks fragmented messages; this is one whole frame)."""
        if self.connection.state is not ConnectionState.OPEN:
            raise WsLocalProtocolError(f"Nothing can be sent in state {self.connection.state}.")
        try:
            await self._write(self._masker.frame(payload))
        except httpcore.WriteError as err:  # as httpx-ws's own send does
            await self.close(1011, "Stream write error")
            raise WebSocketNetworkError() from err

    async def _deliver(self, item: Any) -> None:
        self.delivering = True
        try:
            await self._send_event.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass
        finally:
            self.delivering = False

    async def _refuse(self, code: int, reason: str, error: RemoteProtocolError) -> None:
        log.info("Closing the connection: %s", error)
        await self.close(code, reason)
        await self._deliver(_PeerBrokeProtocol(error))

    async def _background_receive(self, max_bytes: int) -> None:
        parts: list[bytes | bytearray] = []
        size = 0
        try:
            while not self._should_close.is_set():
                data = await self._read_stream(max_bytes)
                self.last_seen = anyio.current_time()
                self.connection.receive_data(data)
                for event in self.connection.events():
                    if isinstance(event, Ping):
                        await self._write(self.connection.send(event.response()))
                    elif isinstance(event, BytesMessage):
                        size += len(event.data)
                        if size > self.max_frame:
                            return await self._refuse(1009, "message too big", RemoteProtocolError(
                                f"The peer sent a frame over the limit of {self.max_frame} bytes."
                            ))
                        parts.append(event.data)  # (join copies them once, whole)
                        if event.message_finished:
                            frame = b"".join(parts)
                            parts, size = [], 0
                            await self._deliver(BytesMessage(data=frame))
                    elif isinstance(event, TextMessage):
                        return await self._refuse(1003, "binary frames only", RemoteProtocolError(
                            "The peer sent a text frame; only binary frames are allowed."
                        ))
                    elif isinstance(event, CloseConnection):
                        if self.connection.state is ConnectionState.OPEN:
                            # wsproto reports an unparsable frame as a close in OPEN state.
                            return await self._refuse(event.code, "protocol error",
                                RemoteProtocolError(
                                    f"The peer broke the websocket protocol: {event.reason}."
                                ))
                        self.peer_close = event
                        self._should_close.set()
                        if self.connection.state is ConnectionState.REMOTE_CLOSING:
                            # Answer at once: the peer waits for it, our user may not be reading.
                            await self._write(self.connection.send(event.response()))
                        await self._deliver(event)
                        return
                    elif not isinstance(event, Pong):
                        log.debug("Ignoring websocket event %r", event)
        except (httpcore.ReadError, httpcore.WriteError, _WsEndOfStream):
            self._should_close.set()
            await self._deliver(WebSocketNetworkError())


class ClientChannel:
    """A `MessageChannel` over one httpx-ws session; made by `connect()`."""

    def __init__(self, session: _Session, *, peer_address: str, user: str,
                 max_frame: int, heartbeat: float) -> None:
        self._session = session
        self._peer_address = peer_address
        self._user = user
        self.max_frame = max_frame
        self.heartbeat = heartbeat
        self._dead: NetworkError | None = None
        self._closed = False
        self._op_scopes: set[anyio.CancelScope] = set()

    @property
    def peer_address(self) -> str:
        return self._peer_address

    @property
    def user(self) -> str | None:
        return self._user

    def _gone(self) -> EngineError:
        if self._dead is not None:
            return self._dead
        close = self._session.peer_close
        if close is not None:
            return _closed_error(close.code, close.reason)
        if self._closed:
            return NetworkError("The connection is closed.")
        return NetworkError("The connection to the peer was lost.")

    async def send(self, frame: bytes) -> None:
        if len(frame) > self.max_frame:
            raise LocalProtocolError(
                f"A {len(frame)}-byte frame exceeds the limit of {self.max_frame} bytes."
            )
        if self._dead or self._closed:
            raise self._gone()
        with anyio.CancelScope() as scope:
            self._op_scopes.add(scope)
            try:
                await self._session.send_frame(frame)
            except (WebSocketNetworkError, WsLocalProtocolError) as err:
                raise self._gone() from err
            finally:
                self._op_scopes.discard(scope)
        if scope.cancelled_caught:
            raise self._gone()

    async def receive(self) -> bytes:
        if self._dead or self._closed:
            raise self._gone()
        with anyio.CancelScope() as scope:
            self._op_scopes.add(scope)
            try:
                event = await self._session.receive()
            except _PeerBrokeProtocol as err:
                raise err.error from None
            except WebSocketDisconnect as err:
                raise _closed_error(err.code, err.reason) from None
            except (WebSocketNetworkError, anyio.EndOfStream, anyio.ClosedResourceError) as err:
                raise self._gone() from err
            finally:
                self._op_scopes.discard(scope)
        if scope.cancelled_caught:
            raise self._gone()
        if not isinstance(event, BytesMessage):
            raise RemoteProtocolError("The peer sent an unexpected websocket event.")
        return bytes(event.data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed:
            self._closed = True
            await self._session.close(code, reason)

    async def _watch(self) -> None:
        """Ping every heartbeat; declare the peer dead after 2 heartbeats of silence."""
        session = self._session
        interval = self.heartbeat
        last_ping = anyio.current_time()
        while not session._should_close.is_set():
            # Wake at the silence deadline too, so a dead peer is noticed within 2 heartbeats.
            silence_left = session.last_seen + 2 * interval - anyio.current_time()
            await anyio.sleep(min(interval / 4, max(0.0, silence_left) + 0.001))
            now = anyio.current_time()
            if not session.delivering and now - session.last_seen > 2 * interval:
                self._dead = NetworkError(
                    f"The peer stopped answering for {2 * interval:g} seconds."
                )
                log.info("Dropping the connection to %s: no answer to pings", self._peer_address)
                for scope in list(self._op_scopes):
                    scope.cancel()
                with anyio.move_on_after(interval):
                    await session.stream.aclose()
                return
            if now - last_ping >= interval:
                last_ping = now
                with anyio.move_on_after(interval):
                    try:
                        await session.send(Ping(payload=b"listsync"))
                    except (WebSocketNetworkError, WsLocalProtocolError):
                        return


@asynccontextmanager
async def connect(
    url: str,
    *,
    username: str,
    password: str,
    ssl_context: ssl.SSLContext | None = None,
    verify_server_cert: CertificateCheck | None = None,
    max_frame: int = DEFAULT_MAX_FRAME,
    heartbeat: float = 15.0,
    connect_timeout: float = 10.0,
    close_timeout: float = 2.0,
    explain_tls_failure: Callable[[BaseException], TLSValidationError] | None = None,
) -> AsyncIterator[ClientChannel]:
    """Connect to `ws[s]://host:port/<db>` with Basic auth; yields a `MessageChannel`.

    `verify_server_cert(der)` runs right after the TLS handshake, before any
    HTTP byte is sent, and raises TLSValidationError to abort. Without it and
    without `ssl_context`, normal CA validation applies. `explain_tls_failure`
    words a certificate the handshake refused in terms of the validation mode.
    """
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as err:
        raise UsageError(f"{url!r} is not a valid websocket URL.") from err
    if parsed.scheme not in ("ws", "wss") or not parsed.host:
        raise UsageError(f"{url!r} is not a ws:// or wss:// URL.")
    if ":" in username:
        raise UsageError("A user name cannot contain a colon (Basic auth would split it).")
    tls = parsed.scheme == "wss"
    if verify_server_cert is not None and not tls:
        raise UsageError("A server certificate check needs a wss:// URL.")
    where = f"{parsed.host}:{parsed.port or (443 if tls else 80)}"
    db = parsed.path.lstrip("/")
    verify: ssl.SSLContext | bool = False  # ws://: no TLS, and no CA store to load
    if ssl_context is None and tls:
        # Loading the system CA store costs 50-300 ms, so only a wss:// connection does it.
        ssl_context = ssl.create_default_context()
        if verify_server_cert is not None:
            # The callback is the validation (pinning, TOFU); the CA store is not asked.
            ssl_context.check_hostname = False
            ssl_context.verify_mode = ssl.CERT_NONE
    extensions: dict[str, Any] = {}
    if verify_server_cert is not None:
        extensions["trace"] = functools.partial(_check_certificate, verify_server_cert, where)
    session_class: Any = functools.partial(
        _Session, max_frame=max_frame, close_timeout=close_timeout
    )
    try:
        # httpx's timeout bounds each step (TCP, TLS, each read and write), not the whole
        # connect: a peer answering a byte at a time would hold us forever. This scope
        # wraps the session's whole life (so it nests with httpx-ws's task group) and
        # stops counting once the websocket is open. It allows TCP and TLS their own
        # timeouts first: httpcore leaks the socket when cancelled from outside there.
        deadline = anyio.current_time() + CONNECT_STEPS * connect_timeout
        with anyio.CancelScope(deadline=deadline) as connecting:
            async with httpx.AsyncClient(
                verify=ssl_context or verify, timeout=httpx.Timeout(connect_timeout),
                trust_env=False, auth=httpx.BasicAuth(username, password),
            ) as client, aconnect_ws(
                str(parsed.copy_with(scheme="https" if tls else "http")), client,
                max_message_size_bytes=READ_CHUNK,
                keepalive_ping_interval_seconds=None,  # our own heartbeat below
                session_class=session_class,
                extensions=extensions,
            ) as session:
                connecting.deadline = math.inf
                channel = ClientChannel(
                    session, peer_address=where, user=username, max_frame=max_frame,
                    heartbeat=heartbeat,
                )
                async with anyio.create_task_group() as tg:
                    tg.start_soon(channel._watch)
                    try:
                        yield channel
                    finally:
                        tg.cancel_scope.cancel()
        if connecting.cancelled_caught:
            raise NetworkError(f"Timed out connecting to {where}.")
    except BaseException as err:
        leaf = _unwrap(err)
        if leaf is None:
            raise
        mapped = _map_error(leaf, where, db, tls=tls)
        if explain_tls_failure is not None and isinstance(
                _cause(leaf, ssl.SSLError), ssl.SSLCertVerificationError):
            mapped = explain_tls_failure(leaf)
        if mapped is err:
            raise
        if mapped is leaf:
            raise leaf from leaf.__cause__  # unwrapped from the group, as it was raised
        raise mapped from leaf


async def _check_certificate(
    check: CertificateCheck, where: str, event: str, info: dict[str, Any]
) -> None:
    """httpx trace hook: runs between the TLS handshake and the first HTTP byte."""
    if event != "connection.start_tls.complete":
        return
    stream = info["return_value"]
    ssl_object = stream.get_extra_info("ssl_object")
    try:
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            raise TLSValidationError(f"The peer at {where} presented no certificate.")
        check(der)
    except BaseException:
        # httpcore never stores a connection that failed in a trace hook; close it here.
        with anyio.move_on_after(1, shield=True):
            await stream.aclose()
        raise


def _unwrap(err: BaseException) -> BaseException | None:
    """The one exception that matters inside httpx-ws's ExceptionGroups (None: leave it)."""
    while isinstance(err, BaseExceptionGroup):
        leaves = [e for e in err.exceptions if not isinstance(e, anyio.get_cancelled_exc_class())]
        preferred = [e for e in leaves if isinstance(e, EngineError)] or leaves
        if not preferred:
            return None
        err = preferred[0]
    return err if isinstance(err, Exception) else None


def _closed_error(code: int, reason: str | None) -> NetworkError:
    text = f": {reason}" if reason else ""
    return NetworkError(f"The peer closed the connection (code {code}{text}).")


def _map_error(err: BaseException, where: str, db: str, *, tls: bool) -> BaseException:
    if isinstance(err, EngineError):
        return err
    if isinstance(err, WebSocketUpgradeError):
        status = err.response.status_code
        if status == 401:
            return AuthError("The peer refused the user name or password.")
        if status == 403:  # our listener's answer to a client cert mutual TLS refused
            return TLSValidationError(f"The peer at {where} does not accept our client "
                                      "certificate (HTTP 403).")
        if status == 404:
            return NetworkError(f"The peer at {where} has no database named {db!r}.")
        return NetworkError(f"The peer at {where} refused the websocket upgrade (HTTP {status}).")
    if isinstance(err, WebSocketDisconnect):
        return _closed_error(err.code, err.reason)
    if isinstance(err, _PeerBrokeProtocol):
        return err.error
    if isinstance(err, HTTPXWSException | WsLocalProtocolError):
        return NetworkError(f"The connection to {where} was lost.")
    if isinstance(err, httpx.TimeoutException):
        return NetworkError(f"Timed out talking to {where}.")
    if isinstance(err, httpx.ConnectError | httpx.ProxyError):
        cause = _cause(err, ssl.SSLError)
        if isinstance(cause, ssl.SSLCertVerificationError):
            return TLSValidationError(
                f"The certificate of {where} failed validation: {cause.verify_message}."
            )
        if isinstance(cause, ssl.SSLError) and cause.reason == "WRONG_VERSION_NUMBER":
            return TLSValidationError(f"The peer at {where} does not speak TLS; if it is a "
                                      "plaintext listener, use a ws:// URL.")
        if isinstance(cause, ssl.SSLError) and "ALERT" in (cause.reason or ""):
            return _refused_session(cause, where)  # over TLS 1.2, a refused client cert
        if isinstance(cause, ssl.SSLError):
            detail = cause.reason or cause.strerror or "handshake failed"
            return TLSValidationError(f"The TLS handshake with {where} failed: {detail}.")
        os_err = _cause(err, OSError)
        reason = os_err.strerror if isinstance(os_err, OSError) and os_err.strerror else str(err)
        return NetworkError(f"Could not connect to {where}: {reason}.")
    if isinstance(err, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return UsageError(f"Cannot connect to {where}: {err}.")
    alert = _cause(err, ssl.SSLError)
    if isinstance(alert, ssl.SSLError) and "ALERT" in (alert.reason or ""):
        # The listener ended the session after our handshake finished (TLS 1.3).
        return _refused_session(alert, where)
    if isinstance(err, httpx.RemoteProtocolError) and not tls:
        # What a TLS listener does with a plaintext request: hang up, say nothing.
        return NetworkError(f"The peer at {where} hung up without answering; if it uses TLS, "
                            "use a wss:// URL.")
    if isinstance(err, httpx.TransportError | OSError | anyio.BrokenResourceError):
        return NetworkError(f"The connection to {where} failed.")
    return err


def _refused_session(alert: ssl.SSLError, where: str) -> TLSValidationError:
    """The listener sent a TLS alert: mostly, it refused our client certificate (or none)."""
    reason = (alert.reason or "alert").lower().replace("_", " ")
    return TLSValidationError(f"The peer at {where} refused the TLS session ({reason}); it may "
                              "require a client certificate it trusts.")


def _cause(err: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


if TYPE_CHECKING:

    def _is_a_message_channel(channel: ClientChannel) -> MessageChannel:
        return channel  # mypy proves the protocol is met
