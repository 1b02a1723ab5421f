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
from engine.net.identity import (
    TLS_MODES,
    Identity,
    fingerprint,
    generated_identity,
    generated_paths,
    listener_ssl_context,
    load_identity,
    pretty_fingerprint,
    replace_generated_identity,
    server_ssl_context,
)
from engine.net.trust import TrustStore, normalize_fingerprint, parse_peer, peer_key
from engine.net.validation import VALIDATION_MODES, ClientAuth, ClientTLS, client_validation
from engine.sync.auth import (
    Allowlist,
    Authenticator,
    UserEntry,
    add_user,
    allowlist_path,
    check_user_name,
    effective_allowlist_path,
    list_users,
    remove_user,
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
    "TLS_MODES",
    "Identity",
    "fingerprint",
    "generated_identity",
    "generated_paths",
    "listener_ssl_context",
    "load_identity",
    "pretty_fingerprint",
    "replace_generated_identity",
    "server_ssl_context",
    "TrustStore",
    "parse_peer",
    "peer_key",
    "VALIDATION_MODES",
    "ClientAuth",
    "ClientTLS",
    "client_validation",
    "Allowlist",
    "Authenticator",
    "UserEntry",
    "add_user",
    "allowlist_path",
    "check_user_name",
    "effective_allowlist_path",
    "list_users",
    "remove_user",
    "normalize_fingerprint",
]
