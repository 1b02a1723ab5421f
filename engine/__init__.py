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
from engine.sync.listener import Listener
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
from engine.sync.wsclient import connect
from engine.sync.wsserver import WebSocketSettings

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
    "ClientActivityChanged",
    "ClientConnected",
    "ClientDisconnected",
    "ClientRejected",
    "ConnectionInfo",
    "EventStream",
    "Listener",
    "ListenerEvent",
    "ListenerStarted",
    "ListenerStatus",
    "ListenerStopped",
    "WebSocketSettings",
    "connect",
]
