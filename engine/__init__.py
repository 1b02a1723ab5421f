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
from engine.resources import certs_dir, data_dir
from engine.sample import load_sample
from engine.store import Change, Database, Document, Revision, default_data_dir, open_user_db

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
]
