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
from engine.inventory import (
    LIST_DOC_ID,
    add_item,
    adjust,
    delete_item,
    find_item,
    items_view,
    merge_list_bodies,
    rename_item,
    set_image,
    set_quantity,
)
from engine.listdoc import list_resolver, open_list_db, read_list, update_list
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
from engine.peer import ListenOptions, make_connector, make_listener, split_url
from engine.resources import certs_dir, data_dir
from engine.sample import load_sample
from engine.store import (
    Change,
    Database,
    Document,
    Resolution,
    Revision,
    default_data_dir,
    default_resolver,
    open_user_db,
)
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
from engine.sync.config import DocFilter, Mode, ReplicatorConfig, RetryPolicy
from engine.sync.link import SessionStats
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
from engine.sync.replicator import Replicator
from engine.sync.server_session import serve_peer
from engine.sync.status import (
    Activity,
    Direction,
    DocumentReplicated,
    ReplicatorEvent,
    ReplicatorStatus,
)
from engine.sync.wsclient import connect
from engine.sync.wsserver import WebSocketSettings

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
from engine.node import (
    ClientsChanged,
    ErrorReported,
    Node,
    NodeEvent,
    NodeInfo,
    NodeSettings,
    PeerDiscovered,
    PeerInfo,
    PeerLost,
    ReplicationChanged,
)
from engine.node import (
    ListenerStarted as NodeListenerStarted,
)
from engine.node import (
    ListenerStopped as NodeListenerStopped,
)

# isort: split
from engine.backup import BackupSummary, export_backup, import_backup, open_existing, user_db_path
from engine.errors import BackupError
from engine.settings import (
    LOG_LEVELS,
    Settings,
    default_settings_path,
    dumps_settings,
    load_settings,
    parse_settings,
    save_settings,
    settings_path,
)
from engine.settings import (
    SCHEMA as SETTINGS_SCHEMA,
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
    "Database",
    "Document",
    "Revision",
    "Change",
    "open_user_db",
    "default_data_dir",
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
    "LIST_DOC_ID",
    "add_item",
    "adjust",
    "delete_item",
    "find_item",
    "items_view",
    "merge_list_bodies",
    "rename_item",
    "set_image",
    "set_quantity",
    "list_resolver",
    "load_sample",
    "open_list_db",
    "read_list",
    "update_list",
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
    "ListenOptions",
    "make_connector",
    "make_listener",
    "split_url",
    "Mode",
    "ReplicatorConfig",
    "RetryPolicy",
    "Replicator",
    "serve_peer",
    "Activity",
    "Direction",
    "DocumentReplicated",
    "ReplicatorStatus",
    "ReplicatorEvent",
    "SessionStats",
    "DocFilter",
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
    "ClientsChanged",
    "ErrorReported",
    "NodeListenerStarted",
    "NodeListenerStopped",
    "Node",
    "NodeEvent",
    "NodeInfo",
    "NodeSettings",
    "PeerDiscovered",
    "PeerInfo",
    "PeerLost",
    "ReplicationChanged",
    "BackupError",
    "BackupSummary",
    "export_backup",
    "import_backup",
    "open_existing",
    "user_db_path",
    "LOG_LEVELS",
    "SETTINGS_SCHEMA",
    "Settings",
    "default_settings_path",
    "dumps_settings",
    "load_settings",
    "parse_settings",
    "save_settings",
    "settings_path",
    "Resolution",
    "default_resolver",
]
