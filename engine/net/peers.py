"""What peer discovery hands out: peers, their events, and remembered manual peers.

`DiscoveredPeer` is one listener found by mDNS (or typed in by hand); the
browser reports `PeerAppeared` / `PeerChanged` / `PeerLeft` facts about them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from engine.errors import ConfigError, UsageError

SERVICE_TYPE = "_cblistservicesync._tcp.local."
# TXT keys of our adverts.
TXT_DB = "db"  # database name
TXT_TLS = "tls"  # disabled | anonymous | bundled | generated
TXT_FINGERPRINT = "fp"  # SHA-256 of the listener certificate, hex; absent without TLS
TXT_PROTOCOL = "pv"  # protocol version
TXT_PEER_ID = "id"  # stable peer id

Source = Literal["mdns", "manual"]


@dataclass(frozen=True, slots=True)
class DiscoveredPeer:
    """A listener we can sync with: where it is and what its advert says."""

    name: str  # instance name, e.g. "alice@pi-kitchen"; "host:port" for manual peers
    host: str  # SRV target, e.g. "pi-kitchen-1a2b3c4d.local."; the host for manual peers
    addresses: tuple[str, ...]  # IPv4 first; link-local IPv6 as "fe80::1%eth0"
    port: int
    txt: Mapping[str, str] = field(default_factory=dict)
    source: Source = "mdns"

    @property
    def peer_id(self) -> str | None:
        return self.txt.get(TXT_PEER_ID)

    @property
    def db(self) -> str | None:
        return self.txt.get(TXT_DB)

    @property
    def tls(self) -> str | None:
        return self.txt.get(TXT_TLS)

    @property
    def fingerprint(self) -> str | None:
        return self.txt.get(TXT_FINGERPRINT) or None

    @property
    def protocol_version(self) -> str | None:
        return self.txt.get(TXT_PROTOCOL)

    @property
    def address(self) -> str:
        """The address to dial: the first IPv4 one if any, else the first listed."""
        return self.addresses[0] if self.addresses else self.host

    def url(self, db: str | None = None) -> str:
        """The sync URL, e.g. "wss://10.0.0.5:4984/userdb" (ws:// when TLS is off).

        `db` defaults to the advertised database name. Manual peers do not say
        whether they use TLS; they get wss:// (anonymous TLS is the default).
        """
        scheme = "ws" if self.tls == "disabled" else "wss"
        host = self.address
        if ":" in host:  # IPv6 literal; the zone id is escaped per RFC 6874
            host = "[" + host.replace("%", "%25") + "]"
        name = db if db is not None else (self.db or "userdb")
        return f"{scheme}://{host}:{self.port}/{name}"

    def to_json(self) -> dict[str, object]:
        """A JSON-ready description (used by `listsync peers --json`)."""
        return {
            "name": self.name, "source": self.source, "host": self.host,
            "addresses": list(self.addresses), "port": self.port, "db": self.db,
            "tls": self.tls, "fingerprint": self.fingerprint, "pv": self.protocol_version,
            "id": self.peer_id, "txt": dict(self.txt), "url": self.url(),
        }


@dataclass(frozen=True, slots=True)
class PeerAppeared:
    """A peer was discovered and resolved."""

    peer: DiscoveredPeer


@dataclass(frozen=True, slots=True)
class PeerChanged:
    """A known peer's addresses, port or TXT changed."""

    peer: DiscoveredPeer
    previous: DiscoveredPeer


@dataclass(frozen=True, slots=True)
class PeerLeft:
    """A peer said goodbye, or its records expired; `peer` is how it was last seen."""

    peer: DiscoveredPeer


PeerEvent = PeerAppeared | PeerChanged | PeerLeft


def fingerprint_hint_mismatch(peer: DiscoveredPeer, remembered_fp: str | None) -> bool:
    """True when the advert's certificate fingerprint differs from the one remembered.

    Adverts are unauthenticated, so this is only a hint to warn early: a
    mismatch may be a re-keyed peer or an impostor, and a match proves
    nothing. The TLS handshake decides. No advertised or no remembered
    fingerprint is not a mismatch.
    """
    advertised = peer.fingerprint
    if not advertised or not remembered_fp:
        return False
    return _norm_fp(advertised) != _norm_fp(remembered_fp)


def _norm_fp(fp: str) -> str:
    return fp.replace(":", "").strip().lower()


@dataclass(frozen=True, slots=True, order=True)
class ManualPeer:
    """A peer given by address, for networks where multicast does not work."""

    host: str
    port: int
    tls: bool = True  # False: given as ws://, a listener without TLS

    def __str__(self) -> str:
        where = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return where if self.tls else f"ws://{where}"

    @classmethod
    def parse(cls, text: str) -> ManualPeer:
        """Parse "HOST:PORT" (TLS, the default), "wss://HOST:PORT" or "ws://HOST:PORT" (no TLS);
        IPv6 as "[ADDR]:PORT". A sync URL's "/<db>" is ignored: syncing is with this device's
        own database, as with discovered peers. Raises UsageError."""
        text = text.strip()
        scheme, found, rest = text.partition("://")
        if found and scheme.lower() not in {"ws", "wss"}:
            raise UsageError(f"{text!r}: a peer's URL starts with ws:// or wss://.")
        address = rest.split("/", 1)[0] if found else text
        peer = cls._parse_address(address, text)
        return peer if not found or scheme.lower() == "wss" else cls(peer.host, peer.port, False)

    @classmethod
    def _parse_address(cls, text: str, given: str) -> ManualPeer:
        host, sep, port_text = text.rpartition(":")
        bracketed = host.startswith("[") and host.endswith("]")
        if bracketed:
            host = host[1:-1]
        elif ":" in host:
            sep = ""  # a bare IPv6 address: the port is ambiguous
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise UsageError(f"{given!r} is not HOST:PORT (IPv6 as [ADDRESS]:PORT).")
        if bracketed:
            try:
                ipaddress.IPv6Address(host.split("%")[0])
            except ValueError:
                raise UsageError(f"{host!r} is not an IPv6 address.") from None
        elif not re.fullmatch(r"[A-Za-z0-9._-]+", host):
            raise UsageError(f"{host!r} is not a host name or IPv4 address.")
        return cls(host, int(port_text))

    def as_peer(self) -> DiscoveredPeer:
        txt = {} if self.tls else {TXT_TLS: "disabled"}  # so its url() is ws://
        return DiscoveredPeer(name=str(self), host=self.host, addresses=(self.host,),
                              port=self.port, txt=txt, source="manual")


class ManualPeers:
    """Manual peers remembered across restarts in `<data dir>/manual_peers.json`."""

    FILE_NAME = "manual_peers.json"

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / self.FILE_NAME

    def list(self) -> list[ManualPeer]:
        """The remembered peers, in the order they were added."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as err:
            raise ConfigError(f"Cannot read manual peers from {self.path}: {err}.") from err
        entries = raw.get("peers") if isinstance(raw, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ConfigError(f"{self.path} does not hold a list of HOST:PORT strings.")
        try:
            return [ManualPeer.parse(e) for e in entries]
        except UsageError as err:
            raise ConfigError(f"{self.path} holds a bad entry: {err}") from err

    def add(self, peer: ManualPeer | str) -> bool:
        """Remember a peer; False if it was already there."""
        entry = peer if isinstance(peer, ManualPeer) else ManualPeer.parse(peer)
        current = self.list()
        if entry in current:
            return False
        self._write([*current, entry])
        return True

    def remove(self, peer: ManualPeer | str) -> bool:
        """Forget a peer; False if it was not remembered."""
        entry = peer if isinstance(peer, ManualPeer) else ManualPeer.parse(peer)
        current = self.list()
        if entry not in current:
            return False
        self._write([p for p in current if p != entry])
        return True

    def _write(self, peers: Iterable[ManualPeer]) -> None:
        # Write-then-rename so a crash leaves the old list or the new one, never half.
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = json.dumps({"peers": [str(p) for p in peers]}, indent=1) + "\n"
        fd, tmp = tempfile.mkstemp(prefix=".manual_peers.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


def merged_peers(discovered: Iterable[DiscoveredPeer],
                 manual: Iterable[ManualPeer]) -> list[DiscoveredPeer]:
    """Discovered peers (sorted by name), then manual ones not already discovered.

    A manual entry whose host:port is one of a discovered peer's
    address:port pairs is shown once, as the discovered peer.
    """
    found = sorted(discovered, key=lambda p: (p.name.lower(), p.name))
    seen = {(a.split("%")[0], p.port) for p in found for a in (*p.addresses, p.host.rstrip("."))}
    extra = [m.as_peer() for m in manual if (m.host.split("%")[0], m.port) not in seen]
    return [*found, *extra]
