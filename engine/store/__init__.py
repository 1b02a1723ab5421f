"""listsync engine: document store (file journal, revision trees, blobs)."""
