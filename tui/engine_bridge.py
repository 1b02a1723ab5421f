"""The one adapter between the terminal app and the engine's Node facade.

`NodeState.apply` folds Node events (duck-typed by class name, see PLAN.md)
into the plain rows of `tui.messages`; `NodeBridge` owns the running Node,
posts those messages to the app, and forwards the user's commands to the Node.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio

import engine
from engine import EngineError
from tui.messages import (
    ActivityEntry,
    ActivityLogged,
    ClientRow,
    ErrorReported,
    ListenerUpdated,
    ListenerView,
    PeerRow,
    PeersUpdated,
)

log = logging.getLogger(__name__)

CLOSE_SECONDS = 5.0  # longest wait for the Node to stop cleanly before giving up
START_SECONDS = 30.0  # longest a command waits for a Node that is still loading (a slow Pi)


def clock_text(value: object = None) -> str:
    """A time of day for display, from whatever the engine gave (datetime, epoch, text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        return value.strftime("%H:%M:%S")
    stamp = float(value) if isinstance(value, int | float) else time.time()
    return time.strftime("%H:%M:%S", time.localtime(stamp))


def peer_row(peer: Any, old: PeerRow | None = None) -> PeerRow:
    """A PeerInfo (key, name, address, port, tls, fingerprint, source) as a row, keeping
    the sync state it had."""
    host = getattr(peer, "address", None) or getattr(peer, "host", "?")
    # No advert (a peer added by hand): its URL's scheme says whether it uses TLS.
    scheme = str(getattr(peer, "url", "")).partition("://")[0]
    tls = getattr(peer, "tls", None) or {"ws": "disabled", "wss": "wss"}.get(scheme, "unknown")
    row = PeerRow(
        key=str(peer.key), name=str(getattr(peer, "name", None) or peer.key),
        address=f"{host}:{peer.port}", tls=str(tls),
        fingerprint=getattr(peer, "fingerprint", None), source=str(getattr(peer, "source", "mdns")),
    )
    if old is not None:
        row = replace(row, activity=old.activity, done=old.done, total=old.total, error=old.error,
                      check=old.check)
    return row


class NodeState:
    """What the UI knows about the Node, rebuilt from its events (pure; no I/O)."""

    def __init__(self, clock: Callable[[object], str] = clock_text) -> None:
        self.listener = ListenerView()
        self.peers: dict[str, PeerRow] = {}
        self._in_sync: set[str] = set()  # logged "in sync"; a running sync's busy/idle
        self._clock = clock               # flicker is not worth a line each

    def apply(self, event: Any) -> list[Any]:
        """Fold one Node event in; returns the Textual messages to post."""
        handler = getattr(self, "_on_" + type(event).__name__, None)
        if handler is None:
            log.debug("ignored node event %r", event)
            return []
        result: list[Any] = handler(event)
        return result

    def _listener(self, **changes: Any) -> list[Any]:
        self.listener = replace(self.listener, **changes)
        return [ListenerUpdated(self.listener)]

    def _peers(self) -> PeersUpdated:
        return PeersUpdated(tuple(self.peers.values()))

    def _log(self, kind: str, text: str, at: object = None, **extra: Any) -> ActivityLogged:
        return ActivityLogged(ActivityEntry(at=self._clock(at), kind=kind, text=text, **extra))

    def _on_ListenerStarted(self, ev: Any) -> list[Any]:
        urls = tuple(str(url) for url in ev.urls)
        msgs = self._listener(running=True, urls=urls, port=ev.port, tls=str(ev.tls),
                              fingerprint=ev.fingerprint)
        return [*msgs, self._log("listener", f"Listening on {', '.join(urls) or ev.port}.")]

    def _on_ListenerStopped(self, ev: Any) -> list[Any]:
        msgs = self._listener(running=False, urls=(), clients=(), busy=0)
        reason = str(getattr(ev, "reason", "") or "")
        return [*msgs, self._log("listener", f"Listener stopped{': ' + reason if reason else ''}.")]

    def _on_ClientsChanged(self, ev: Any) -> list[Any]:
        old = {c.conn_id: c for c in self.listener.clients}
        clients = tuple(ClientRow(str(c.id), str(c.user), str(c.address), self._clock(c.since))
                        for c in ev.clients)
        msgs = self._listener(clients=clients, busy=int(ev.busy))
        new = {c.conn_id for c in clients}
        msgs += [self._log("listener", f"{c.user} connected from {c.address}.")
                 for c in clients if c.conn_id not in old]
        msgs += [self._log("listener", f"{c.user} disconnected.")
                 for key, c in old.items() if key not in new]
        return msgs

    def _on_ClientConnected(self, ev: Any) -> list[Any]:
        row = ClientRow(str(ev.conn_id), str(ev.user), str(ev.address), self._clock(ev.since))
        clients = (*(c for c in self.listener.clients if c.conn_id != row.conn_id), row)
        msgs = self._listener(clients=clients)
        return [*msgs, self._log("listener", f"{row.user} connected from {row.address}.")]

    def _on_ClientDisconnected(self, ev: Any) -> list[Any]:
        gone = [c for c in self.listener.clients if c.conn_id == str(ev.conn_id)]
        clients = tuple(c for c in self.listener.clients if c.conn_id != str(ev.conn_id))
        msgs = self._listener(clients=clients)
        if gone:
            msgs.append(self._log("listener", f"{gone[0].user} disconnected."))
        return msgs

    def _on_ClientBusyChanged(self, ev: Any) -> list[Any]:
        return self._listener(busy=int(ev.busy_count))

    def _on_PeerDiscovered(self, ev: Any) -> list[Any]:
        row = peer_row(ev.peer, self.peers.get(str(ev.peer.key)))
        self.peers[row.key] = row
        return [self._peers()]

    _on_PeerChanged = _on_PeerDiscovered

    def _on_PeerLost(self, ev: Any) -> list[Any]:
        row = self.peers.get(str(ev.key))
        if row is None:
            return []
        if row.activity == "stopped":
            del self.peers[row.key]
        else:  # still wanted: keep it on screen, the replicator reports offline
            self.peers[row.key] = replace(row, activity="offline")
        return [self._peers()]

    def _on_ReplicationChanged(self, ev: Any) -> list[Any]:
        key = str(ev.key)
        row = self.peers.get(key) or PeerRow(key=key, name=key, address=key, source="manual")
        error = getattr(ev, "error", None)
        self.peers[key] = replace(row, activity=str(ev.activity), done=int(ev.done or 0),
                                  total=int(ev.total or 0), error=error,
                                  check=getattr(ev, "tls", None) or row.check)
        msgs: list[Any] = [self._peers()]
        activity = str(ev.activity)
        if activity == "idle" and key not in self._in_sync:
            self._in_sync.add(key)  # first catch-up since (re)connecting
            msgs.append(self._log("sync", f"{row.name}: in sync."))
        elif activity not in {"idle", "busy"} and activity != row.activity:
            self._in_sync.discard(key)
            msgs.append(self._log("sync", f"{row.name}: {activity}."))
        if error and error != row.error:
            msgs.append(self._log("error", f"{row.name}: {error}"))
        return msgs

    def _on_DocumentChanged(self, ev: Any) -> list[Any]:
        if not getattr(ev, "from_peer", None):
            return []
        return [self._log("sync", f"Received {ev.doc_id} {ev.rev} from {ev.from_peer}.")]

    def _on_ConflictResolved(self, ev: Any) -> list[Any]:
        losers = tuple(str(rev) for rev in ev.loser_revs)
        text = f"Merged concurrent changes to {ev.doc_id} from {ev.peer or 'this device'}."
        return [self._log("conflict", text, ev.at, doc_id=str(ev.doc_id),
                          winner_rev=str(ev.winner_rev), loser_revs=losers)]

    def _on_ErrorReported(self, ev: Any) -> list[Any]:
        return [ErrorReported(str(ev.message)), self._log("error", str(ev.message))]


class NodeBridge:
    """Runs the engine's Node inside the app and forwards the user's commands to it."""

    def __init__(self, post: Callable[[Any], object]) -> None:
        self._post = post
        self._node: Any = None
        self._node_changed: anyio.Event | None = None
        # A Node is on its way (the app starts one after the first paint): commands wait.
        self.expected = False
        self.state = NodeState()

    async def run(self, db: Any, *, user: str, password: str, settings: Any,
                  data_dir: Path, db_name: str = "userdb",
                  ready: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run the Node until cancelled, posting a message for each of its events.

        `ready` runs once the Node is up (e.g. start the listener after a settings change).
        """
        self.expected = True
        try:
            await self._run(db, user=user, password=password, settings=settings,
                            data_dir=data_dir, db_name=db_name, ready=ready)
        except anyio.get_cancelled_exc_class():
            raise  # a restart with new settings, or quitting
        except BaseException:
            self.expected = False  # no Node is coming: commands fail at once
            self._set_node(None)
            raise

    async def _run(self, db: Any, *, user: str, password: str, settings: Any, data_dir: Path,
                   db_name: str, ready: Callable[[], Awaitable[None]] | None) -> None:
        # The Node's import (listener, httpx, zeroconf, cryptography) happens in a thread,
        # so the inventory paints while it loads.
        node_class = await anyio.to_thread.run_sync(lambda: engine.Node)
        node = node_class(db, user=user, password=password, settings=settings,
                           data_dir=data_dir, db_name=db_name)
        self.state = NodeState()
        # Our end of the event stream stays open until the Node has closed its end: the
        # Node drops (without closing) a stream whose reader went away, which warns later.
        streams: list[Any] = []
        try:
            async with node:
                events = node.events()  # subscribe first: nothing that happens next is missed
                streams.append(events)
                try:
                    await self._follow(node, events, ready)
                finally:
                    streams.append(node.events())
                    await self._wind_down(node, streams[-1])
        finally:
            for stream in streams:
                stream.close()

    async def _follow(self, node: Any, events: Any,
                      ready: Callable[[], Awaitable[None]] | None) -> None:
        self._set_node(node)
        try:
            for peer in node.peers():
                self.state.peers[str(peer.key)] = peer_row(peer)
            self._post(PeersUpdated(tuple(self.state.peers.values())))
            if ready is not None:
                try:
                    await ready()
                except EngineError as err:
                    self._post(ErrorReported(str(err)))
            async for event in events:
                for message in self.state.apply(event):
                    self._post(message)
        finally:
            self._set_node(None)

    def _set_node(self, node: Any) -> None:
        self._node = node
        if self._node_changed is not None:
            self._node_changed.set()
            self._node_changed = None

    async def _wind_down(self, node: Any, stopped: Any) -> None:
        # This worker is cancelled to restart with new settings, and at quit. Node's own
        # exit awaits the stops first, so a cancellation there would skip closing its task
        # group and streams; do the stops here, shielded, so its exit has nothing to await.
        with anyio.move_on_after(CLOSE_SECONDS, shield=True):
            for key in list(node.replications):
                await node.stop_sync(key)
            if node.info.running:
                await node.stop_listener()
                async for event in stopped:
                    if type(event).__name__ == "ListenerStopped":
                        break

    def _require(self) -> Any:
        if self._node is None:
            raise EngineError("Syncing is not running in this session.")
        return self._node

    async def _running(self) -> Any:
        """The Node, waiting for it if it is still loading (a command right after start)."""
        with anyio.move_on_after(START_SECONDS):
            while self._node is None and self.expected:
                if self._node_changed is None:
                    self._node_changed = anyio.Event()
                await self._node_changed.wait()
        return self._require()

    async def start_listener(self) -> None:
        await (await self._running()).start_listener()

    async def stop_listener(self) -> None:
        await (await self._running()).stop_listener()

    async def start_sync(self, key_or_url: str) -> None:
        await (await self._running()).start_sync(key_or_url)

    async def stop_sync(self, key: str) -> None:
        await (await self._running()).stop_sync(key)

    async def add_manual_peer(self, address: str) -> None:
        (await self._running()).add_manual_peer(address)

    def sync_with_peer(self, address: str, then: Callable[[], Awaitable[None]] | None = None,
                       ) -> Callable[[], Awaitable[None]]:
        """A `ready` step for `run`: add `address` as a manual peer and start syncing with it."""
        async def ready() -> None:
            node = self._require()
            peer = node.add_manual_peer(address)
            await node.start_sync(peer.key)
            if then is not None:
                await then()

        return ready

    async def forget_peer(self, key: str) -> None:
        (await self._running()).forget_peer(key)
        if self.state.peers.pop(key, None) is not None:
            self._post(PeersUpdated(tuple(self.state.peers.values())))
