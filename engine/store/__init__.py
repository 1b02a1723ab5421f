"""listsync engine: document store (file journal, revision trees, blobs).

`Database` is the entry point; see PLAN.md "Store API" for the contract.
"""

from __future__ import annotations

from engine.store.create import default_data_dir, open_user_db
from engine.store.database import Database
from engine.store.resolution import Resolution, default_resolver
from engine.store.revs import Change, Document, Revision, make_rev_id

__all__ = [
    "Change",
    "Database",
    "Document",
    "Resolution",
    "Revision",
    "default_data_dir",
    "default_resolver",
    "make_rev_id",
    "open_user_db",
]
