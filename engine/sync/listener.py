"""The passive peer's websocket listener: accept, TLS, upgrade, hand off.

`Listener.serve` owns one task group: an accept loop per socket and one task
per connection, which hands the accepted channel to the pluggable handler.
Status is readable at any time (`status`) and flows out as events (`events()`).
"""

from __future__ import annotations

import ipaddress
import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar, TypeVarTuple

import anyio
from anyio.abc import ByteStream, SocketListener, SocketStream, TaskGroup, TaskStatus
from anyio.streams.tls import TLSAttribute, TLSStream

from engine.errors import EngineError, NetworkError, RemoteProtocolError, UsageError
from engine.sync import gcpolicy
from engine.sync.listenerstatus import (
    ClientActivityChanged,
    ClientConnected,
    ClientDisconnected,
    ClientRejected,
    ConnectionInfo,
    EventStream,
    ListenerEvent,
    ListenerStarted,
    ListenerStatus,
    ListenerStopped,
)
from engine.sync.wsserver import ServerChannel, WebSocketSettings
from engine.sync.wsupgrade import Authenticator, DatabaseFilter, Rejection, accept_websocket

log = logging.getLogger(__name__)

Handler = Callable[[ServerChannel, str], Awaitable[None]]
# Called with the client's DER certificate (None if it sent none) right after the
# TLS handshake, before the HTTP request is read; raises to drop the connection.
ClientCertCheck = Callable[[bytes | None], None]
T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class _AlertingTLSStream(TLSStream):
    """anyio drops the alert OpenSSL wrote when a handshake fails; send it, so a
    client refused for its certificate learns why instead of seeing a reset."""

    async def _call_sslobject_method(self, func: Callable[[*Ts], T],
                                     *args: *Ts) -> T:
        try:
            return await super()._call_sslobject_method(func, *args)
        except ssl.SSLError:
            with anyio.move_on_after(1):
                try:
                    await self._flush_write_bio()
                except Exception as err:  # the peer may be gone already
                    log.debug("Could not send the TLS alert: %r", err)
            raise


class Listener:
    """A websocket listener; run with `await tg.start(listener.serve)` → port."""

    def __init__(
        self,
        handler: Handler,
        *,
        authenticate: Authenticator,
        databases: DatabaseFilter,
        host: str | None = None,  # None: every interface, IPv4 and IPv6
        port: int = 0,  # 0: the OS picks
        ssl_context: ssl.SSLContext | None = None,
        settings: WebSocketSettings | None = None,
        stop_grace: float = 5.0,  # seconds stop() waits for handlers after telling clients
        max_connections: int = 512,  # sockets beyond this are closed at once
        check_client_cert: ClientCertCheck | None = None,  # mutual TLS, after the handshake
    ) -> None:
        self.handler = handler
        self.authenticate = authenticate
        self.databases = databases
        self.host = host
        self.requested_port = port
        self.ssl_context = ssl_context
        self.settings = settings or WebSocketSettings()
        self.stop_grace = stop_grace
        self.max_connections = max_connections
        self.check_client_cert = check_client_cert
        self._subscribers: set[EventStream] = set()
        self._channels: dict[int, tuple[ServerChannel, ConnectionInfo]] = {}
        self._handshaking: set[anyio.CancelScope] = set()
        self._next_id = 1
        self._tasks = 0
        self._tasks_done = anyio.Event()
        self._port: int | None = None
        self._urls: tuple[str, ...] = ()
        self._running = False
        self._stopping = False
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()

    # -- status ---------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def urls(self) -> tuple[str, ...]:
        """Base URLs (ending in "/"; append the db name), one per usable address."""
        return self._urls

    @property
    def connection_count(self) -> int:
        return len(self._channels)

    @property
    def active_count(self) -> int:
        return sum(1 for channel, _ in self._channels.values() if channel.is_busy)

    @property
    def status(self) -> ListenerStatus:
        return ListenerStatus(
            running=self._running, port=self._port, urls=self._urls,
            connections=tuple(self._info(cid) for cid in sorted(self._channels)),
        )

    def events(self, maxlen: int = 1024) -> EventStream:
        """Subscribe to status changes from now on; close the stream when done."""
        stream = EventStream(maxlen, self._subscribers.discard)
        self._subscribers.add(stream)
        return stream

    def _emit(self, event: ListenerEvent) -> None:
        for stream in list(self._subscribers):
            stream._push(event)

    def _info(self, cid: int) -> ConnectionInfo:
        channel, info = self._channels[cid]
        return ConnectionInfo(
            id=cid, user=info.user, address=info.address, db=info.db, since=info.since,
            busy=channel.is_busy,
        )

    # -- lifecycle ------------------------------------------------------------

    async def serve(self, *, task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen until `stop()` (or cancellation); reports the bound port when ready."""
        if self._running:
            raise UsageError("The listener is already running.")
        gcpolicy.relax()
        try:
            multi = await anyio.create_tcp_listener(
                local_host=self.host, local_port=self.requested_port
            )
        except OSError as err:
            raise NetworkError(
                f"Could not listen on {self.host or 'all interfaces'} port "
                f"{self.requested_port}: {err.strerror or err}."
            ) from err
        self._stop_requested = anyio.Event()
        self._stopped = anyio.Event()
        self._stopping = False
        try:
            async with anyio.create_task_group() as tg:
                listeners = [sock for sock in multi.listeners if isinstance(sock, SocketListener)]
                self._port = int(listeners[0].extra(anyio.abc.SocketAttribute.local_port))
                self._urls = _urls(listeners, self._port, self.ssl_context is not None)
                for sock in listeners:
                    tg.start_soon(self._accept_loop, sock, tg)
                self._running = True
                self._emit(ListenerStarted(port=self._port, urls=self._urls))
                task_status.started(self._port)
                await self._stop_requested.wait()
                await multi.aclose()
                await self._shut_down()
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await multi.aclose()
            self._running = False
            self._port = None
            self._urls = ()
            self._emit(ListenerStopped())
            self._stopped.set()

    async def stop(self) -> None:
        """Tell clients 1001 "going away", wait (bounded) for handlers, close.

        Call it from outside the handlers (it waits for them)."""
        if not self._running:
            return
        self._stop_requested.set()
        await self._stopped.wait()

    async def _shut_down(self) -> None:
        self._stopping = True
        for scope in list(self._handshaking):
            scope.cancel()
        async with anyio.create_task_group() as tg:
            for channel, _ in list(self._channels.values()):
                tg.start_soon(channel.close, 1001, "going away")
        with anyio.move_on_after(self.stop_grace):
            while self._tasks:
                await self._tasks_done.wait()

    async def _accept_loop(self, sock: SocketListener, tg: TaskGroup) -> None:
        while True:
            try:
                stream = await sock.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError as err:
                # Out of file descriptors and the like: keep serving the ones we have.
                log.warning("Could not accept a connection: %s", err)
                await anyio.sleep(0.1)
                continue
            if self._tasks >= self.max_connections or self._stopping:
                await anyio.aclose_forcefully(stream)
                continue
            self._tasks += 1
            if self._tasks == 1:
                self._tasks_done = anyio.Event()
            tg.start_soon(self._connection, stream)

    async def _connection(self, raw: SocketStream) -> None:
        stream: ByteStream = raw
        try:
            # getpeername() fails on a socket the peer already reset.
            remote = raw.extra(anyio.abc.SocketAttribute.remote_address, None)
        except OSError:
            remote = None
        address = _format_address(remote)
        host = str(remote[0]) if isinstance(remote, tuple) else address
        try:
            result: ServerChannel | Rejection | None = None
            forbidden: str | None = None
            with anyio.CancelScope() as scope:
                self._handshaking.add(scope)
                if self._stopping:
                    scope.cancel()
                try:
                    with anyio.fail_after(self.settings.handshake_timeout):
                        if self.ssl_context is not None:
                            stream = await _AlertingTLSStream.wrap(
                                raw, server_side=True, ssl_context=self.ssl_context,
                                standard_compatible=False,
                            )
                            forbidden = self._client_cert_refusal(stream)
                        result = await accept_websocket(
                            stream, peer_address=address, peer_host=host,
                            authenticate=self.authenticate,
                            databases=self.databases, settings=self.settings,
                            forbidden=forbidden,
                        )
                except TimeoutError:
                    log.debug("Handshake from %s timed out", address)
                except Exception as err:
                    # A peer's garbage (bad TLS, resets) drops this connection only.
                    log.debug("Handshake from %s failed: %r", address, err)
                finally:
                    self._handshaking.discard(scope)
            if isinstance(result, Rejection):
                log.debug("Refused %s: %s", address, result.reason)
                if result.status in (401, 403, 500):
                    self._emit(ClientRejected(address, result.user, result.status))
            elif result is not None:
                await self._run_channel(result, address)
        except Exception:
            # A bug in one connection must not take the listener and the others down.
            log.warning("The connection from %s failed", address, exc_info=True)
        finally:
            await anyio.aclose_forcefully(stream)
            self._tasks -= 1
            if self._tasks == 0:
                self._tasks_done.set()

    def _client_cert_refusal(self, stream: ByteStream) -> str | None:
        """Why mutual TLS refuses this client (answered with 403), or None."""
        if self.check_client_cert is None:
            return None
        try:
            self.check_client_cert(stream.extra(TLSAttribute.peer_certificate_binary, None))
        except EngineError as err:
            return str(err)
        return None

    async def _run_channel(self, channel: ServerChannel, address: str) -> None:
        cid = self._next_id
        self._next_id += 1
        info = ConnectionInfo(cid, channel.user or "", address, channel.db, channel.since, False)
        self._channels[cid] = (channel, info)
        channel.on_busy_change = lambda _ch: self._emit(ClientActivityChanged(self._info(cid)))
        self._emit(ClientConnected(self._info(cid)))
        log.info("%s connected from %s to %s", info.user, address, info.db)
        try:
            async with channel.running():
                if self._stopping:
                    await channel.close(1001, "going away")
                try:
                    await self.handler(channel, channel.db)
                except Exception as err:
                    code = _close_code_for(err)
                    if code == 1011:
                        log.warning("The sync handler failed for %s", address, exc_info=err)
                    elif code == 1002:
                        log.info("Closing %s: %s", address, err)
                    if code:
                        await channel.close(code, "protocol error" if code == 1002 else "")
        finally:
            final = self._info(cid)
            del self._channels[cid]
            reason = str(channel.error) if channel.error else "closed"
            self._emit(ClientDisconnected(final, reason))
            log.info("%s from %s disconnected: %s", info.user, address, reason)


def _close_code_for(err: BaseException) -> int:
    """1002 for a protocol error, 0 (nothing to add) for a lost peer, else 1011."""
    leaves = _leaves(err)
    if any(isinstance(e, RemoteProtocolError) for e in leaves):
        return 1002
    if all(isinstance(e, NetworkError) for e in leaves):
        return 0
    return 1011


def _leaves(err: BaseException) -> list[BaseException]:
    if isinstance(err, BaseExceptionGroup):
        return [leaf for sub in err.exceptions for leaf in _leaves(sub)]
    return [err]


def _format_address(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        host, port = str(addr[0]), addr[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return "unknown address" if addr is None else str(addr)


def _urls(listeners: Sequence[SocketListener], port: int, tls: bool) -> tuple[str, ...]:
    scheme = "wss" if tls else "ws"
    hosts: list[str] = []
    for sock in listeners:
        bound = str(sock.extra(anyio.abc.SocketAttribute.local_address)[0])
        if bound in ("0.0.0.0", "::"):
            hosts.extend(_interface_addresses(ipv6=bound == "::"))
        else:
            hosts.append(bound)
    unique = sorted(set(hosts), key=lambda h: (ipaddress.ip_address(h).is_loopback, ":" in h, h))
    return tuple(
        f"{scheme}://[{h}]:{port}/" if ":" in h else f"{scheme}://{h}:{port}/" for h in unique
    )


def _interface_addresses(*, ipv6: bool) -> list[str]:
    """Every address a peer could reach us on (IPv6 link-local left out: needs a scope)."""
    try:
        import ifaddr  # zeroconf's own dependency
    except ImportError:
        return ["127.0.0.1"]
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                found.append(ip.ip)
            elif ipv6 and not ipaddress.ip_address(ip.ip[0]).is_link_local:
                found.append(ip.ip[0])
    return found or ["127.0.0.1"]
