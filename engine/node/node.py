"""`Node`: one device's database, listener, replicators and peer list, as one object.

It owns one anyio task group (entered with `async with node:`), in which the
listener, the mDNS advertiser and browser and one task per replicator run.
Everything it does is reported as `NodeEvent`s on the streams `events()`
hands out; callers never see engine internals.
"""

from __future__ import annotations

import logging
import math
import socket
from dataclasses import replace
from pathlib import Path
from types import TracebackType

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from engine.errors import EngineError, TLSValidationError, UsageError
from engine.net.advertise import Advertiser
from engine.net.browse import Browser
from engine.net.identity import listener_ssl_context
from engine.net.peers import ManualPeer, ManualPeers, PeerAppeared, PeerChanged, PeerLeft
from engine.net.validation import client_validation
from engine.node.events import (
    ClientsChanged,
    ErrorReported,
    ListenerStarted,
    ListenerStopped,
    NodeEvent,
    NodeInfo,
    NodeSettings,
    PeerDiscovered,
    PeerInfo,
    PeerLost,
    ReplicationChanged,
)
from engine.peer import ListenOptions, make_connector, make_listener, split_url
from engine.store.database import Database
from engine.sync.config import ReplicatorConfig, RetryPolicy
from engine.sync.listener import Listener
from engine.sync.replicator import Replicator
from engine.sync.status import Activity, ReplicatorEvent, ReplicatorStatus

log = logging.getLogger(__name__)


class Node:
    """This device on the LAN; use as `async with Node(...) as node:`."""

    def __init__(self, db: Database, *, data_dir: Path, user: str, password: str,
                 db_name: str = "userdb", settings: NodeSettings | None = None) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self.user = user
        self.password = password
        self.db_name = db_name
        self.settings = settings or NodeSettings()
        self.manual = ManualPeers(self.data_dir)
        self._subscribers: list[MemoryObjectSendStream[NodeEvent]] = []
        self._tg: TaskGroup | None = None
        self._listener: Listener | None = None
        self._listener_scope: anyio.CancelScope | None = None
        self._info = NodeInfo(running=False)
        self._discovered: dict[str, PeerInfo] = {}
        self._replicators: dict[str, tuple[Replicator, anyio.CancelScope]] = {}
        self.replications: dict[str, ReplicationChanged] = {}
        self._checks: dict[str, str] = {}  # key -> the check a connection must pass, or "none"

    # -- lifetime ---------------------------------------------------------------

    async def __aenter__(self) -> Node:
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        if self.settings.browse:
            self._tg.start_soon(self._browse)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> bool | None:
        assert self._tg is not None
        try:
            # Shielded and bounded: a cancelled caller (the app quitting) still gets its
            # clients told and its replicators stopped, and never waits forever.
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                for key in list(self._replicators):
                    await self.stop_sync(key)
                await self.stop_listener()
        finally:
            self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        except BaseExceptionGroup as group:
            if exc is not None and group.exceptions == (exc,):
                raise exc from None  # the caller's own error, unwrapped (one sentence)
            raise
        finally:
            self._tg = None
            for stream in self._subscribers:
                stream.close()
            self._subscribers.clear()

    def events(self) -> MemoryObjectReceiveStream[NodeEvent]:
        """A new stream of everything that happens from now on."""
        send, receive = anyio.create_memory_object_stream[NodeEvent](math.inf)
        self._subscribers.append(send)
        return receive

    def _emit(self, event: NodeEvent) -> None:
        for stream in list(self._subscribers):
            try:
                stream.send_nowait(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                stream.close()  # the reader left; close our end too
                self._subscribers.remove(stream)

    def _task_group(self) -> TaskGroup:
        if self._tg is None:
            raise UsageError("The node is not running; use it inside `async with`.")
        return self._tg

    # -- listener -------------------------------------------------------------------

    @property
    def info(self) -> NodeInfo:
        """The listener's state as the listener screen shows it."""
        return self._info

    async def start_listener(self) -> NodeInfo:
        """Start listening (and advertising); raises EngineError if it cannot start."""
        if self._listener is not None:
            return self._info
        try:
            await self._task_group().start(self._run_listener)
        except ExceptionGroup as group:
            raise _engine_error(group) from None  # one sentence, not a group
        return self._info

    async def stop_listener(self) -> None:
        """Tell clients we are going away, then stop listening and advertising."""
        listener, scope = self._listener, self._listener_scope
        if listener is None or scope is None:
            return
        await listener.stop()
        scope.cancel()

    async def _run_listener(self, *, task_status: TaskStatus[None]) -> None:
        s = self.settings
        ssl_context, identity = listener_ssl_context(
            s.tls, data_dir=self.data_dir, path=s.identity_path, password=s.identity_password)
        listener = make_listener(
            self.db, self.db_name, data_dir=self.data_dir, ssl_context=ssl_context,
            options=ListenOptions(host=s.host, port=s.port, read_only=s.read_only,
                                  deltas=s.deltas, heartbeat=s.heartbeat))
        fingerprint = identity.fingerprint if identity is not None else None
        try:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    port: int = await tg.start(listener.serve)
                    self._listener, self._listener_scope = listener, scope
                    urls = tuple(url + self.db_name for url in listener.urls)
                    self._info = NodeInfo(running=True, urls=urls, port=port, tls=s.tls,
                                          fingerprint=fingerprint)
                    tg.start_soon(self._follow_listener, listener)
                    if s.advertise:
                        tg.start_soon(self._advertise, port, fingerprint)
                    self._emit(ListenerStarted(urls, port, s.tls, fingerprint))
                    task_status.started()
        finally:
            self._listener = self._listener_scope = None
            self._info = NodeInfo(running=False)
            self._emit(ListenerStopped())

    async def _follow_listener(self, listener: Listener) -> None:
        with listener.events() as stream:
            async for _event in stream:
                status = listener.status
                self._info = replace(self._info, clients=tuple(status.connections),
                                     busy=status.active_count)
                self._emit(ClientsChanged(tuple(status.connections), status.active_count))

    async def _advertise(self, port: int, fingerprint: str | None) -> None:
        try:
            async with Advertiser(port=port, peer_id=self.db.uuid, db=self.db_name,
                                  tls=self.settings.tls, fingerprint=fingerprint,
                                  name=self.settings.service_name or f"{self.user}@{_host()}"):
                await anyio.sleep_forever()
        except EngineError as err:
            self._emit(ErrorReported(f"Could not advertise on the LAN: {err}"))
        except OSError as err:
            self._emit(ErrorReported(f"Could not advertise on the LAN: {err.strerror or err}."))

    # -- peers ------------------------------------------------------------------------

    def peers(self) -> list[PeerInfo]:
        """Discovered peers, then manual ones."""
        manual = [PeerInfo.of(m.as_peer(), self.db_name) for m in self.manual.list()]
        return [*self._discovered.values(), *manual]

    def add_manual_peer(self, host_port: str) -> PeerInfo:
        entry = ManualPeer.parse(host_port)
        self.manual.add(entry)
        info = PeerInfo.of(entry.as_peer(), self.db_name)
        self._emit(PeerDiscovered(info))
        return info

    def forget_peer(self, key: str) -> None:
        """Forget a manual peer (a discovered one comes back while it advertises)."""
        for entry in self.manual.list():
            if PeerInfo.of(entry.as_peer(), self.db_name).key == key:
                self.manual.remove(entry)
                self._emit(PeerLost(key))

    async def _browse(self) -> None:
        try:
            async with Browser(own_peer_id=self.db.uuid) as browser:
                async for event in browser:
                    if isinstance(event, PeerAppeared | PeerChanged):
                        info = PeerInfo.of(event.peer, event.peer.db or self.db_name)
                        self._discovered[info.key] = info
                        self._emit(PeerDiscovered(info))
                    elif isinstance(event, PeerLeft):
                        key = PeerInfo.of(event.peer, self.db_name).key
                        self._discovered.pop(key, None)
                        self._emit(PeerLost(key))
        except (EngineError, OSError) as err:
            self._emit(ErrorReported(f"Peer discovery stopped: {err}"))

    # -- replication ---------------------------------------------------------------

    async def start_sync(self, key_or_url: str) -> str:
        """Start continuous push-and-pull with a peer (by key or URL); returns its key."""
        peer = next((p for p in self.peers() if p.key == key_or_url), None)
        key, url = (peer.key, peer.url) if peer else (key_or_url, key_or_url)
        if key in self._replicators:
            return key
        host, port, tls, _db = split_url(url)
        s = self.settings
        client_tls = client_validation(s.validation, host, port, ca_file=s.ca_file,
                                       pinned_cert=s.pinned_cert,
                                       data_dir=self.data_dir) if tls else None
        connector = make_connector(url, username=self.user, password=self.password,
                                   tls=client_tls, heartbeat=s.heartbeat)
        config = ReplicatorConfig(continuous=True, heartbeat=s.heartbeat, deltas=s.deltas,
                                  retry=RetryPolicy(max_attempts=0))
        replicator = Replicator(self.db, connector, config)
        scope = anyio.CancelScope()
        self._replicators[key] = (replicator, scope)
        self._checks[key] = s.validation if tls else "none"
        self._task_group().start_soon(self._run_replicator, key, replicator, scope)
        return key

    async def stop_sync(self, key: str) -> None:
        entry = self._replicators.pop(key, None)
        if entry is not None:
            replicator, scope = entry
            await replicator.stop()
            scope.cancel()
            self._set_replication(key, ReplicatorStatus(Activity.STOPPED))

    async def _run_replicator(self, key: str, replicator: Replicator,
                              scope: anyio.CancelScope) -> None:
        # Subscribe before run() starts: the hub closes its streams when run() ends.
        stream = replicator.events()
        with scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._follow_replicator, key, stream)
                try:
                    await replicator.run()
                except EngineError as err:
                    self._emit(ErrorReported(str(err)))
                finally:
                    tg.cancel_scope.cancel()
        self._replicators.pop(key, None)

    async def _follow_replicator(
            self, key: str, stream: MemoryObjectReceiveStream[ReplicatorEvent]) -> None:
        async with stream:
            async for event in stream:
                if isinstance(event, ReplicatorStatus):
                    self._set_replication(key, event)

    def _set_replication(self, key: str, status: ReplicatorStatus) -> None:
        last = self.replications.get(key)
        tls = last.tls if last is not None else None
        if isinstance(status.error, TLSValidationError):
            tls = "failed"
        elif status.activity in (Activity.IDLE, Activity.BUSY):
            tls = self._checks.get(key, tls)  # connected: the certificate passed that check
        event = ReplicationChanged(key, status.activity.value, status.done, status.total,
                                   str(status.error) if status.error else None, tls)
        self.replications[key] = event
        self._emit(event)


def _engine_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first EngineError inside (nested) task-group errors, else the group itself."""
    for exc in group.exceptions:
        if isinstance(exc, EngineError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _engine_error(exc)
            if isinstance(found, EngineError):
                return found
    return group


def _host() -> str:
    return socket.gethostname().split(".")[0] or "listsync"
