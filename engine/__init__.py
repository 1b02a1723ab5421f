"""listsync's sync engine: store, protocol, peers. The public API for `tui`.

`tui` imports only from this module; everything it needs is in `__all__`.
"""

from __future__ import annotations

from engine.errors import (
    AuthError,
    BlobMissingError,
    ConfigError,
    ConflictError,
    CorruptJournalError,
    EngineError,
    IdentityError,
    InvalidIdError,
    NetworkError,
    NotFoundError,
    ProtocolError,
    ReadOnlyError,
    StorageFailedError,
    StoreError,
    TLSValidationError,
    UsageError,
)
from engine.resources import certs_dir, data_dir

# isort: split
from engine.net.advertise import Advertiser
from engine.net.browse import Browser, browse_once
from engine.net.interfaces import MulticastCheck, multicast_available
from engine.net.peers import (
    DiscoveredPeer,
    ManualPeer,
    ManualPeers,
    PeerAppeared,
    PeerChanged,
    PeerEvent,
    PeerLeft,
    fingerprint_hint_mismatch,
    merged_peers,
)

__all__ = [
    "AuthError",
    "BlobMissingError",
    "ConfigError",
    "ConflictError",
    "CorruptJournalError",
    "EngineError",
    "IdentityError",
    "InvalidIdError",
    "NetworkError",
    "NotFoundError",
    "ProtocolError",
    "ReadOnlyError",
    "StorageFailedError",
    "StoreError",
    "TLSValidationError",
    "UsageError",
    "certs_dir",
    "data_dir",
    "Advertiser",
    "Browser",
    "DiscoveredPeer",
    "ManualPeer",
    "ManualPeers",
    "MulticastCheck",
    "PeerAppeared",
    "PeerChanged",
    "PeerEvent",
    "PeerLeft",
    "browse_once",
    "fingerprint_hint_mismatch",
    "merged_peers",
    "multicast_available",
]
