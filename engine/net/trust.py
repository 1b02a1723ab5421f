"""Remembered peer certificates for trust-on-first-use, like SSH's known_hosts.

A text file `<data dir>/known_peers`, one `host:port sha256-hex` per line
(`#` starts a comment). Edits are locked and atomic, so replicators in
several processes can share it.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from engine.errors import ConfigError, UsageError
from engine.net.files import locked, write_atomic

KNOWN_PEERS = "known_peers"
_HEX64 = re.compile(r"[0-9a-f]{64}")


def peer_key(host: str, port: int) -> str:
    """The store's key for a peer: lowercase host, IPv6 in brackets, then the port."""
    host = host.strip("[]").lower()
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{ipaddress.ip_address(host).compressed}]"
    except ValueError:
        pass
    return f"{host}:{port}"


def parse_peer(text: str) -> tuple[str, int]:
    """`host:port` or `[v6]:port` as (host, port); UsageError if malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{text!r} is not HOST:PORT (IPv6 as [ADDRESS]:PORT).")
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        raise UsageError(f"Write the IPv6 address in {text!r} in brackets: [ADDRESS]:PORT.")
    return host.strip("[]"), int(port)


def normalize_fingerprint(text: str) -> str:
    """`AB:CD:...`, `abcd...` or `sha256=abcd...` as 64 lowercase hex digits."""
    hex_digits = text.strip().lower().removeprefix("sha256=").replace(":", "")
    if not _HEX64.fullmatch(hex_digits):
        raise UsageError(f"{text!r} is not a SHA-256 fingerprint (64 hex digits, colons allowed).")
    return hex_digits


class TrustStore:
    """host:port → certificate fingerprint, remembered on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> TrustStore:
        return cls(data_dir / KNOWN_PEERS)

    def entries(self) -> dict[str, str]:
        """Every remembered peer and its fingerprint (hex, lowercase)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise ConfigError(f"Could not read the trust store {self.path}: "
                              f"{err.strerror}.") from err
        found: dict[str, str] = {}
        for number, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 2 or not _HEX64.fullmatch(parts[1]):
                raise ConfigError(f"Line {number} of {self.path} is not `host:port sha256-hex`.")
            found[parts[0]] = parts[1]
        return found

    def get(self, peer: str) -> str | None:
        return self.entries().get(peer)

    def _write(self, entries: dict[str, str]) -> None:
        body = "".join(f"{k} {v}\n" for k, v in sorted(entries.items()))
        write_atomic(self.path, ("# listsync trusted peers: host:port sha256\n" + body).encode())

    def remember_or_get(self, peer: str, fp: str) -> str | None:
        """The fingerprint already known for `peer`, or None after remembering `fp`."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path):
            entries = self.entries()
            if peer in entries:
                return entries[peer]
            entries[peer] = fp
            self._write(entries)
            return None

    def set(self, peer: str, fp: str) -> None:
        """Trust `fp` for `peer` from now on (e.g. a fingerprint checked by eye)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with locked(self.path):
            entries = self.entries()
            entries[peer] = normalize_fingerprint(fp)
            self._write(entries)

    def forget(self, peer: str) -> bool:
        """Drop a peer's fingerprint; False if it was not remembered."""
        if not self.path.exists():
            return False
        with locked(self.path):
            entries = self.entries()
            if entries.pop(peer, None) is None:
                return False
            self._write(entries)
            return True
