"""listsync's sync engine: store, protocol, peers. The public API for `tui`.

`tui` imports only from this module; everything it needs is in `__all__`.

Names load on first use (PEP 562), so `listsync items` does not pay for
httpx, zeroconf and cryptography it never touches.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.backup import BackupSummary as BackupSummary
    from engine.backup import export_backup as export_backup
    from engine.backup import import_backup as import_backup
    from engine.backup import open_existing as open_existing
    from engine.backup import user_db_path as user_db_path
    from engine.errors import AuthError as AuthError
    from engine.errors import BackupError as BackupError
    from engine.errors import BlobMissingError as BlobMissingError
    from engine.errors import ConfigError as ConfigError
    from engine.errors import ConflictError as ConflictError
    from engine.errors import CorruptJournalError as CorruptJournalError
    from engine.errors import EngineError as EngineError
    from engine.errors import IdentityError as IdentityError
    from engine.errors import InvalidIdError as InvalidIdError
    from engine.errors import NetworkError as NetworkError
    from engine.errors import NotFoundError as NotFoundError
    from engine.errors import ProtocolError as ProtocolError
    from engine.errors import ReadOnlyError as ReadOnlyError
    from engine.errors import StorageFailedError as StorageFailedError
    from engine.errors import StoreError as StoreError
    from engine.errors import TLSValidationError as TLSValidationError
    from engine.errors import UsageError as UsageError
    from engine.inventory import LIST_DOC_ID as LIST_DOC_ID
    from engine.inventory import add_item as add_item
    from engine.inventory import adjust as adjust
    from engine.inventory import delete_item as delete_item
    from engine.inventory import find_item as find_item
    from engine.inventory import items_view as items_view
    from engine.inventory import merge_list_bodies as merge_list_bodies
    from engine.inventory import rename_item as rename_item
    from engine.inventory import set_image as set_image
    from engine.inventory import set_quantity as set_quantity
    from engine.listdoc import list_resolver as list_resolver
    from engine.listdoc import open_list_db as open_list_db
    from engine.listdoc import read_list as read_list
    from engine.listdoc import update_list as update_list
    from engine.net.advertise import Advertiser as Advertiser
    from engine.net.browse import Browser as Browser
    from engine.net.browse import browse_once as browse_once
    from engine.net.identity import Identity as Identity
    from engine.net.identity import fingerprint as fingerprint
    from engine.net.identity import generated_identity as generated_identity
    from engine.net.identity import generated_paths as generated_paths
    from engine.net.identity import listener_ssl_context as listener_ssl_context
    from engine.net.identity import load_identity as load_identity
    from engine.net.identity import pretty_fingerprint as pretty_fingerprint
    from engine.net.identity import replace_generated_identity as replace_generated_identity
    from engine.net.identity import server_ssl_context as server_ssl_context
    from engine.net.interfaces import MulticastCheck as MulticastCheck
    from engine.net.interfaces import multicast_available as multicast_available
    from engine.net.modes import TLS_MODES as TLS_MODES
    from engine.net.modes import VALIDATION_MODES as VALIDATION_MODES
    from engine.net.peers import DiscoveredPeer as DiscoveredPeer
    from engine.net.peers import ManualPeer as ManualPeer
    from engine.net.peers import ManualPeers as ManualPeers
    from engine.net.peers import PeerAppeared as PeerAppeared
    from engine.net.peers import PeerChanged as PeerChanged
    from engine.net.peers import PeerEvent as PeerEvent
    from engine.net.peers import PeerLeft as PeerLeft
    from engine.net.peers import fingerprint_hint_mismatch as fingerprint_hint_mismatch
    from engine.net.peers import merged_peers as merged_peers
    from engine.net.trust import TrustStore as TrustStore
    from engine.net.trust import normalize_fingerprint as normalize_fingerprint
    from engine.net.trust import parse_peer as parse_peer
    from engine.net.trust import peer_key as peer_key
    from engine.net.validation import ClientAuth as ClientAuth
    from engine.net.validation import ClientTLS as ClientTLS
    from engine.net.validation import client_validation as client_validation
    from engine.node import ClientsChanged as ClientsChanged
    from engine.node import ErrorReported as ErrorReported
    from engine.node import ListenerStarted as NodeListenerStarted
    from engine.node import ListenerStopped as NodeListenerStopped
    from engine.node import Node as Node
    from engine.node import NodeEvent as NodeEvent
    from engine.node import NodeInfo as NodeInfo
    from engine.node import NodeSettings as NodeSettings
    from engine.node import PeerDiscovered as PeerDiscovered
    from engine.node import PeerInfo as PeerInfo
    from engine.node import PeerLost as PeerLost
    from engine.node import ReplicationChanged as ReplicationChanged
    from engine.peer import ListenOptions as ListenOptions
    from engine.peer import make_connector as make_connector
    from engine.peer import make_listener as make_listener
    from engine.peer import split_url as split_url
    from engine.resources import certs_dir as certs_dir
    from engine.resources import data_dir as data_dir
    from engine.sample import load_sample as load_sample
    from engine.settings import LOG_LEVELS as LOG_LEVELS
    from engine.settings import SCHEMA as SETTINGS_SCHEMA
    from engine.settings import Settings as Settings
    from engine.settings import default_settings_path as default_settings_path
    from engine.settings import dumps_settings as dumps_settings
    from engine.settings import load_settings as load_settings
    from engine.settings import parse_settings as parse_settings
    from engine.settings import save_settings as save_settings
    from engine.settings import settings_path as settings_path
    from engine.store import Change as Change
    from engine.store import Database as Database
    from engine.store import Document as Document
    from engine.store import Resolution as Resolution
    from engine.store import Revision as Revision
    from engine.store import default_data_dir as default_data_dir
    from engine.store import default_resolver as default_resolver
    from engine.store import open_user_db as open_user_db
    from engine.sync.auth import Allowlist as Allowlist
    from engine.sync.auth import Authenticator as Authenticator
    from engine.sync.auth import UserEntry as UserEntry
    from engine.sync.auth import add_user as add_user
    from engine.sync.auth import allowlist_path as allowlist_path
    from engine.sync.auth import check_user_name as check_user_name
    from engine.sync.auth import effective_allowlist_path as effective_allowlist_path
    from engine.sync.auth import list_users as list_users
    from engine.sync.auth import remove_user as remove_user
    from engine.sync.config import DocFilter as DocFilter
    from engine.sync.config import Mode as Mode
    from engine.sync.config import ReplicatorConfig as ReplicatorConfig
    from engine.sync.config import RetryPolicy as RetryPolicy
    from engine.sync.link import SessionStats as SessionStats
    from engine.sync.listener import Listener as Listener
    from engine.sync.listenerstatus import ClientActivityChanged as ClientActivityChanged
    from engine.sync.listenerstatus import ClientConnected as ClientConnected
    from engine.sync.listenerstatus import ClientDisconnected as ClientDisconnected
    from engine.sync.listenerstatus import ClientRejected as ClientRejected
    from engine.sync.listenerstatus import ConnectionInfo as ConnectionInfo
    from engine.sync.listenerstatus import EventStream as EventStream
    from engine.sync.listenerstatus import ListenerEvent as ListenerEvent
    from engine.sync.listenerstatus import ListenerStarted as ListenerStarted
    from engine.sync.listenerstatus import ListenerStatus as ListenerStatus
    from engine.sync.listenerstatus import ListenerStopped as ListenerStopped
    from engine.sync.replicator import Replicator as Replicator
    from engine.sync.server_session import serve_peer as serve_peer
    from engine.sync.status import Activity as Activity
    from engine.sync.status import Direction as Direction
    from engine.sync.status import DocumentReplicated as DocumentReplicated
    from engine.sync.status import ReplicatorEvent as ReplicatorEvent
    from engine.sync.status import ReplicatorStatus as ReplicatorStatus
    from engine.sync.wsclient import connect as connect
    from engine.sync.wsserver import WebSocketSettings as WebSocketSettings

# public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {  # keep in step with __all__ (a test checks)
    "AuthError": ("engine.errors", "AuthError"),
    "BlobMissingError": ("engine.errors", "BlobMissingError"),
    "ConfigError": ("engine.errors", "ConfigError"),
    "ConflictError": ("engine.errors", "ConflictError"),
    "CorruptJournalError": ("engine.errors", "CorruptJournalError"),
    "EngineError": ("engine.errors", "EngineError"),
    "IdentityError": ("engine.errors", "IdentityError"),
    "InvalidIdError": ("engine.errors", "InvalidIdError"),
    "NetworkError": ("engine.errors", "NetworkError"),
    "NotFoundError": ("engine.errors", "NotFoundError"),
    "ProtocolError": ("engine.errors", "ProtocolError"),
    "ReadOnlyError": ("engine.errors", "ReadOnlyError"),
    "StorageFailedError": ("engine.errors", "StorageFailedError"),
    "StoreError": ("engine.errors", "StoreError"),
    "TLSValidationError": ("engine.errors", "TLSValidationError"),
    "UsageError": ("engine.errors", "UsageError"),
    "certs_dir": ("engine.resources", "certs_dir"),
    "data_dir": ("engine.resources", "data_dir"),
    "Database": ("engine.store", "Database"),
    "Document": ("engine.store", "Document"),
    "Revision": ("engine.store", "Revision"),
    "Change": ("engine.store", "Change"),
    "open_user_db": ("engine.store", "open_user_db"),
    "default_data_dir": ("engine.store", "default_data_dir"),
    "TLS_MODES": ("engine.net.modes", "TLS_MODES"),
    "Identity": ("engine.net.identity", "Identity"),
    "fingerprint": ("engine.net.identity", "fingerprint"),
    "generated_identity": ("engine.net.identity", "generated_identity"),
    "generated_paths": ("engine.net.identity", "generated_paths"),
    "listener_ssl_context": ("engine.net.identity", "listener_ssl_context"),
    "load_identity": ("engine.net.identity", "load_identity"),
    "pretty_fingerprint": ("engine.net.identity", "pretty_fingerprint"),
    "replace_generated_identity": ("engine.net.identity", "replace_generated_identity"),
    "server_ssl_context": ("engine.net.identity", "server_ssl_context"),
    "TrustStore": ("engine.net.trust", "TrustStore"),
    "parse_peer": ("engine.net.trust", "parse_peer"),
    "peer_key": ("engine.net.trust", "peer_key"),
    "VALIDATION_MODES": ("engine.net.modes", "VALIDATION_MODES"),
    "ClientAuth": ("engine.net.validation", "ClientAuth"),
    "ClientTLS": ("engine.net.validation", "ClientTLS"),
    "client_validation": ("engine.net.validation", "client_validation"),
    "Allowlist": ("engine.sync.auth", "Allowlist"),
    "Authenticator": ("engine.sync.auth", "Authenticator"),
    "UserEntry": ("engine.sync.auth", "UserEntry"),
    "add_user": ("engine.sync.auth", "add_user"),
    "allowlist_path": ("engine.sync.auth", "allowlist_path"),
    "check_user_name": ("engine.sync.auth", "check_user_name"),
    "effective_allowlist_path": ("engine.sync.auth", "effective_allowlist_path"),
    "list_users": ("engine.sync.auth", "list_users"),
    "remove_user": ("engine.sync.auth", "remove_user"),
    "normalize_fingerprint": ("engine.net.trust", "normalize_fingerprint"),
    "LIST_DOC_ID": ("engine.inventory", "LIST_DOC_ID"),
    "add_item": ("engine.inventory", "add_item"),
    "adjust": ("engine.inventory", "adjust"),
    "delete_item": ("engine.inventory", "delete_item"),
    "find_item": ("engine.inventory", "find_item"),
    "items_view": ("engine.inventory", "items_view"),
    "merge_list_bodies": ("engine.inventory", "merge_list_bodies"),
    "rename_item": ("engine.inventory", "rename_item"),
    "set_image": ("engine.inventory", "set_image"),
    "set_quantity": ("engine.inventory", "set_quantity"),
    "list_resolver": ("engine.listdoc", "list_resolver"),
    "load_sample": ("engine.sample", "load_sample"),
    "open_list_db": ("engine.listdoc", "open_list_db"),
    "read_list": ("engine.listdoc", "read_list"),
    "update_list": ("engine.listdoc", "update_list"),
    "ClientActivityChanged": ("engine.sync.listenerstatus", "ClientActivityChanged"),
    "ClientConnected": ("engine.sync.listenerstatus", "ClientConnected"),
    "ClientDisconnected": ("engine.sync.listenerstatus", "ClientDisconnected"),
    "ClientRejected": ("engine.sync.listenerstatus", "ClientRejected"),
    "ConnectionInfo": ("engine.sync.listenerstatus", "ConnectionInfo"),
    "EventStream": ("engine.sync.listenerstatus", "EventStream"),
    "Listener": ("engine.sync.listener", "Listener"),
    "ListenerEvent": ("engine.sync.listenerstatus", "ListenerEvent"),
    "ListenerStarted": ("engine.sync.listenerstatus", "ListenerStarted"),
    "ListenerStatus": ("engine.sync.listenerstatus", "ListenerStatus"),
    "ListenerStopped": ("engine.sync.listenerstatus", "ListenerStopped"),
    "WebSocketSettings": ("engine.sync.wsserver", "WebSocketSettings"),
    "connect": ("engine.sync.wsclient", "connect"),
    "ListenOptions": ("engine.peer", "ListenOptions"),
    "make_connector": ("engine.peer", "make_connector"),
    "make_listener": ("engine.peer", "make_listener"),
    "split_url": ("engine.peer", "split_url"),
    "Mode": ("engine.sync.config", "Mode"),
    "ReplicatorConfig": ("engine.sync.config", "ReplicatorConfig"),
    "RetryPolicy": ("engine.sync.config", "RetryPolicy"),
    "Replicator": ("engine.sync.replicator", "Replicator"),
    "serve_peer": ("engine.sync.server_session", "serve_peer"),
    "Activity": ("engine.sync.status", "Activity"),
    "Direction": ("engine.sync.status", "Direction"),
    "DocumentReplicated": ("engine.sync.status", "DocumentReplicated"),
    "ReplicatorStatus": ("engine.sync.status", "ReplicatorStatus"),
    "ReplicatorEvent": ("engine.sync.status", "ReplicatorEvent"),
    "SessionStats": ("engine.sync.link", "SessionStats"),
    "DocFilter": ("engine.sync.config", "DocFilter"),
    "Advertiser": ("engine.net.advertise", "Advertiser"),
    "Browser": ("engine.net.browse", "Browser"),
    "DiscoveredPeer": ("engine.net.peers", "DiscoveredPeer"),
    "ManualPeer": ("engine.net.peers", "ManualPeer"),
    "ManualPeers": ("engine.net.peers", "ManualPeers"),
    "MulticastCheck": ("engine.net.interfaces", "MulticastCheck"),
    "PeerAppeared": ("engine.net.peers", "PeerAppeared"),
    "PeerChanged": ("engine.net.peers", "PeerChanged"),
    "PeerEvent": ("engine.net.peers", "PeerEvent"),
    "PeerLeft": ("engine.net.peers", "PeerLeft"),
    "browse_once": ("engine.net.browse", "browse_once"),
    "fingerprint_hint_mismatch": ("engine.net.peers", "fingerprint_hint_mismatch"),
    "merged_peers": ("engine.net.peers", "merged_peers"),
    "multicast_available": ("engine.net.interfaces", "multicast_available"),
    "ClientsChanged": ("engine.node", "ClientsChanged"),
    "ErrorReported": ("engine.node", "ErrorReported"),
    "NodeListenerStarted": ("engine.node", "ListenerStarted"),
    "NodeListenerStopped": ("engine.node", "ListenerStopped"),
    "Node": ("engine.node", "Node"),
    "NodeEvent": ("engine.node", "NodeEvent"),
    "NodeInfo": ("engine.node", "NodeInfo"),
    "NodeSettings": ("engine.node", "NodeSettings"),
    "PeerDiscovered": ("engine.node", "PeerDiscovered"),
    "PeerInfo": ("engine.node", "PeerInfo"),
    "PeerLost": ("engine.node", "PeerLost"),
    "ReplicationChanged": ("engine.node", "ReplicationChanged"),
    "BackupError": ("engine.errors", "BackupError"),
    "BackupSummary": ("engine.backup", "BackupSummary"),
    "export_backup": ("engine.backup", "export_backup"),
    "import_backup": ("engine.backup", "import_backup"),
    "open_existing": ("engine.backup", "open_existing"),
    "user_db_path": ("engine.backup", "user_db_path"),
    "LOG_LEVELS": ("engine.settings", "LOG_LEVELS"),
    "SETTINGS_SCHEMA": ("engine.settings", "SCHEMA"),
    "Settings": ("engine.settings", "Settings"),
    "default_settings_path": ("engine.settings", "default_settings_path"),
    "dumps_settings": ("engine.settings", "dumps_settings"),
    "load_settings": ("engine.settings", "load_settings"),
    "parse_settings": ("engine.settings", "parse_settings"),
    "save_settings": ("engine.settings", "save_settings"),
    "settings_path": ("engine.settings", "settings_path"),
    "Resolution": ("engine.store", "Resolution"),
    "default_resolver": ("engine.store", "default_resolver"),
}

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

def __getattr__(name: str) -> Any:
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'engine' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
