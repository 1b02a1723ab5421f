"""The Node bridge: Node events (by the names in PLAN.md) become the rows screens show."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tui.commands.app import configure_logging
from tui.engine_bridge import NodeState
from tui.messages import ActivityLogged, ErrorReported, ListenerUpdated, PeersUpdated


# Stand-ins with the Node facade's event names and fields.
@dataclass
class ListenerStarted:
    urls: list[str]
    port: int
    fingerprint: str | None
    tls: str


@dataclass
class ListenerStopped:
    pass


@dataclass
class ClientConnected:
    conn_id: str
    user: str
    address: str
    since: str


@dataclass
class ClientDisconnected:
    conn_id: str


@dataclass
class ClientBusyChanged:
    busy_count: int


@dataclass
class ConnectionInfo:
    id: int
    user: str
    address: str
    db: str
    since: float
    busy: bool


@dataclass
class ClientsChanged:
    clients: tuple[ConnectionInfo, ...]
    busy: int


@dataclass
class PeerInfo:
    key: str
    name: str
    address: str
    port: int
    tls: str
    fingerprint: str | None
    source: str


@dataclass
class PeerDiscovered:
    peer: PeerInfo


@dataclass
class PeerLost:
    key: str


@dataclass
class ReplicationChanged:
    key: str
    activity: str
    done: int
    total: int
    error: str | None


@dataclass
class ConflictResolved:
    doc_id: str
    winner_rev: str
    loser_revs: list[str]
    peer: str | None
    at: str


@dataclass
class ErrorReported_:  # noqa: N801 - renamed below to the Node's class name
    message: str


ErrorReported_.__name__ = "ErrorReported"


def fold(state: NodeState, *events: Any) -> list[Any]:
    return [message for event in events for message in state.apply(event)]


def test_listener_events_build_the_listener_view() -> None:
    state = NodeState(clock=lambda at: str(at))
    fold(state, ListenerStarted(["wss://10.0.0.1:4984/userdb"], 4984, "AB", "anonymous"),
         ClientConnected("c1", "alice", "10.0.0.2:5000", "09:00:00"),
         ClientConnected("c2", "dave", "10.0.0.3:5000", "09:01:00"),
         ClientBusyChanged(2), ClientDisconnected("c1"))
    view = state.listener
    assert view.running and view.port == 4984 and view.fingerprint == "AB" and view.busy == 2
    assert [c.user for c in view.clients] == ["dave"]
    fold(state, ListenerStopped())
    assert not state.listener.running and state.listener.clients == ()


def test_clients_changed_replaces_the_client_list_and_logs_arrivals() -> None:
    state = NodeState(clock=lambda at: f"t{at}")
    alice = ConnectionInfo(1, "alice", "10.0.0.2:5000", "userdb", 100.0, True)
    dave = ConnectionInfo(2, "dave", "10.0.0.3:5000", "userdb", 200.0, False)
    fold(state, ClientsChanged((alice,), 1))
    messages = fold(state, ClientsChanged((dave,), 0))
    assert [(c.user, c.since) for c in state.listener.clients] == [("dave", "t200.0")]
    assert state.listener.busy == 0
    logged = [m.entry.text for m in messages if isinstance(m, ActivityLogged)]
    assert logged == ["dave connected from 10.0.0.3:5000.", "alice disconnected."]


def test_every_listener_event_posts_the_latest_view() -> None:
    messages = fold(NodeState(), ClientBusyChanged(1), ClientBusyChanged(3))
    updates = [m for m in messages if isinstance(m, ListenerUpdated)]
    assert [m.view.busy for m in updates] == [1, 3]
    assert updates[1].can_replace(updates[0])  # a burst collapses into one repaint


def test_peers_keep_their_sync_state_across_rediscovery() -> None:
    state = NodeState()
    peer = PeerInfo("k1", "kiosk-1", "10.0.0.5", 4984, "anonymous", "EF", "mdns")
    fold(state, PeerDiscovered(peer), ReplicationChanged("k1", "busy", 10, 40, None))
    messages = fold(state, PeerDiscovered(peer))
    assert isinstance(messages[-1], PeersUpdated)
    (row,) = messages[-1].peers
    assert (row.address, row.activity, row.done, row.total) == ("10.0.0.5:4984", "busy", 10, 40)


def test_a_lost_peer_stays_listed_while_we_want_to_sync_with_it() -> None:
    state = NodeState()
    fold(state, PeerDiscovered(PeerInfo("k1", "a", "h", 1, "disabled", None, "mdns")),
         PeerDiscovered(PeerInfo("k2", "b", "h", 2, "disabled", None, "mdns")),
         ReplicationChanged("k1", "idle", 0, 0, None), PeerLost("k1"), PeerLost("k2"))
    assert {k: p.activity for k, p in state.peers.items()} == {"k1": "offline"}


def test_the_activity_log_skips_the_busy_idle_flicker() -> None:
    state = NodeState(clock=lambda at: "T")
    messages = fold(state, *(ReplicationChanged("k", a, 0, 0, None)
                             for a in ["connecting", "busy", "idle", "busy", "idle", "offline"]))
    logged = [m.entry.text for m in messages if isinstance(m, ActivityLogged)]
    assert logged == ["k: connecting.", "k: in sync.", "k: offline."]


def test_replication_errors_and_conflicts_go_to_the_activity_log() -> None:
    state = NodeState(clock=lambda at: "T")
    messages = fold(state, ReplicationChanged("wss://x:1/db", "offline", 0, 0, "Peer refused."),
                    ConflictResolved("list", "3-b", ["2-a"], "kiosk-1", "09:00"),
                    ErrorReported_("Disk full."))
    kinds = [m.entry.kind for m in messages if isinstance(m, ActivityLogged)]
    assert kinds == ["sync", "error", "conflict", "error"]  # offline, its error, ...
    conflict = next(m.entry for m in messages
                    if isinstance(m, ActivityLogged) and m.entry.kind == "conflict")
    assert conflict.loser_revs == ("2-a",) and conflict.winner_rev == "3-b"
    assert any(isinstance(m, ErrorReported) and m.text == "Disk full." for m in messages)


def test_logs_and_tls_handshake_noise_go_to_the_log_file(tmp_path: Path) -> None:
    log_file = tmp_path / "listsync.log"
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        configure_logging(log_file, debug=False)
        logging.getLogger("anyio.streams.tls").error("handshake failed from 10.0.0.9")
        logging.getLogger("tui.app").info("logged in as bob")
        for handler in root.handlers:
            handler.flush()
    finally:
        tls = logging.getLogger("anyio.streams.tls")
        for handler in root.handlers + tls.handlers:
            handler.close()
        tls.handlers[:] = []
        tls.propagate = True
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    text = log_file.read_text()
    assert "handshake failed from 10.0.0.9" in text and "logged in as bob" in text
