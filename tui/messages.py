"""What the app shows about syncing, as plain rows, and the app-wide messages carrying them.

Screens render only from these values, so tests can drive any screen by posting
a message to the app (toolong-style: status ticks collapse via `can_replace`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.message import Message


@dataclass(frozen=True)
class ClientRow:
    """A peer connected to our listener."""

    conn_id: str
    user: str
    address: str
    since: str  # already formatted for display


@dataclass(frozen=True)
class ListenerView:
    """Everything the listener screen shows."""

    running: bool = False
    urls: tuple[str, ...] = ()
    port: int | None = None
    tls: str = "anonymous"
    fingerprint: str | None = None
    clients: tuple[ClientRow, ...] = ()
    busy: int = 0


@dataclass(frozen=True)
class PeerRow:
    """A peer we can replicate with (found by mDNS or added by hand) and how that goes."""

    key: str
    name: str
    address: str  # host:port
    tls: str = "anonymous"  # the advert's TLS mode; added by hand: "disabled" (ws://) or "wss"
    fingerprint: str | None = None
    source: str = "mdns"  # "mdns" or "manual"
    activity: str = "stopped"  # stopped | offline | connecting | idle | busy
    done: int = 0
    total: int = 0
    error: str | None = None
    check: str | None = None  # once connected: skip | ca | pinned | tofu | none | failed


@dataclass(frozen=True)
class ActivityEntry:
    """One line of the activity log; conflicts keep what lost so it can be looked at."""

    at: str
    kind: str  # "sync" | "listener" | "peer" | "conflict" | "error"
    text: str
    doc_id: str | None = None
    winner_rev: str | None = None
    loser_revs: tuple[str, ...] = field(default_factory=tuple)


class ListenerUpdated(Message):
    """The listener's state changed; only the latest matters."""

    def __init__(self, view: ListenerView) -> None:
        super().__init__()
        self.view = view

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ListenerUpdated)


class PeersUpdated(Message):
    """The peer list or a replication's state changed; only the latest matters."""

    def __init__(self, peers: tuple[PeerRow, ...]) -> None:
        super().__init__()
        self.peers = peers

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, PeersUpdated)


class ActivityLogged(Message):
    """Something worth a line in the activity log happened."""

    def __init__(self, entry: ActivityEntry) -> None:
        super().__init__()
        self.entry = entry


class ErrorReported(Message):
    """The engine reported a failure: one sentence for a notification."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
