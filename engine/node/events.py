"""What a Node reports: past-tense facts, one small frozen dataclass each.

The terminal app turns each into a Textual message; the headless service
logs each as one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from engine.net.peers import DiscoveredPeer
from engine.sync.listenerstatus import ConnectionInfo


@dataclass(frozen=True, slots=True)
class NodeSettings:
    """How this device listens and how it trusts peers; mirrors the settings file."""

    tls: str = "anonymous"  # disabled | anonymous | bundled | generated
    identity_path: Path | None = None  # bundled: a PKCS#12 / PEM file (default: the sample)
    identity_password: str | None = None
    host: str | None = None  # None: every interface
    port: int = 0  # 0: the OS picks
    deltas: bool = True
    read_only: bool = False
    advertise: bool = True
    service_name: str | None = None  # mDNS instance name; default "user@host"
    browse: bool = True
    validation: str = "tofu"  # skip | ca | pinned | tofu
    pinned_cert: Path | None = None
    ca_file: Path | None = None
    heartbeat: float = 15.0  # seconds between websocket pings


@dataclass(frozen=True, slots=True)
class PeerInfo:
    """A peer this device can sync with, discovered or entered by hand."""

    key: str  # stable within a run: the mDNS instance name, or "host:port"
    name: str
    address: str
    port: int
    tls: str | None
    fingerprint: str | None
    source: str  # "mdns" | "manual"
    url: str

    @classmethod
    def of(cls, peer: DiscoveredPeer, db: str) -> PeerInfo:
        key = peer.name if peer.source == "mdns" else f"{peer.address}:{peer.port}"
        return cls(key=key, name=peer.name, address=peer.address, port=peer.port, tls=peer.tls,
                   fingerprint=peer.fingerprint, source=peer.source, url=peer.url(db))


@dataclass(frozen=True, slots=True)
class ListenerStarted:
    urls: tuple[str, ...]
    port: int
    tls: str
    fingerprint: str | None


@dataclass(frozen=True, slots=True)
class ListenerStopped:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ClientsChanged:
    """The set of connected clients or their busy flags changed."""

    clients: tuple[ConnectionInfo, ...]
    busy: int


@dataclass(frozen=True, slots=True)
class PeerDiscovered:
    peer: PeerInfo


@dataclass(frozen=True, slots=True)
class PeerLost:
    key: str


@dataclass(frozen=True, slots=True)
class ReplicationChanged:
    key: str
    activity: str  # stopped | offline | connecting | idle | busy
    done: int = 0
    total: int = 0
    error: str | None = None
    # The peer's certificate, as last connected: the validation mode it passed (skip | ca |
    # pinned | tofu), "none" (ws://, no TLS) or "failed"; None until it has connected.
    tls: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorReported:
    message: str


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """Everything the listener screen shows, in one snapshot."""

    running: bool
    urls: tuple[str, ...] = ()
    port: int | None = None
    tls: str = "disabled"
    fingerprint: str | None = None
    clients: tuple[ConnectionInfo, ...] = field(default_factory=tuple)
    busy: int = 0


NodeEvent = (ListenerStarted | ListenerStopped | ClientsChanged | PeerDiscovered | PeerLost
             | ReplicationChanged | ErrorReported)
