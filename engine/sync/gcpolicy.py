"""Garbage-collector settings for long-running peers (listener, replicator).

A store's index is a large, long-lived heap of small containers, and sync
allocates many short-lived ones per frame; with CPython's default threshold
(700) the young collections run hundreds of times per 10k documents.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 100_000  # container allocations between young collections
OLDER_THRESHOLD = 10  # young collections per middle one, and middle per full one


def relax() -> None:
    """Collect less often (never more often than the process already does)."""
    young, middle, old = gc.get_threshold()
    if young and young < YOUNG_THRESHOLD:
        gc.set_threshold(YOUNG_THRESHOLD, max(middle, OLDER_THRESHOLD),
                         max(old, OLDER_THRESHOLD))
