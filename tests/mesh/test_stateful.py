"""Stateful property test: 3-5 real stores syncing over real sessions, at random.

Peers adjust, add, rename and delete inventory items and edit ordinary
documents, sync pairwise in random directions (some sessions cut mid-way, as a
dropped connection) and reopen their stores from disk. Whenever everyone fully
syncs, every peer must hold identical documents and revision trees, each item at
its initial quantity plus every adjustment made to it anywhere, and each
deleted item gone. ~1,200 steps in CI; LISTSYNC_LONG=1 runs 100,000.
"""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine.errors import NotFoundError, UsageError
from engine.inventory import (
    LIST_DOC_ID,
    add_item,
    adjust,
    delete_item,
    legacy_item_id,
    normalise,
    rename_item,
    set_image,
)
from engine.listdoc import read_list, update_list
from engine.store import Database
from engine.sync.config import Mode
from tests.mesh.rig import open_peer, quantities, sync_pair, tree_map

LONG = os.environ.get("LISTSYNC_LONG") == "1"
START = {"type": "list", "items": [{"key": "Apples", "value": 10}, {"key": "Beets", "value": 4},
                                   {"key": "Corn", "value": 90}]}
NAMES = ["Apples", "Beets", "Corn", "Dates", "Figs"]
NOTES = ["note-1", "note-2"]
MODES = [Mode.PUSH, Mode.PULL, Mode.PUSH_AND_PULL]
STEPS = [0]
SHM = Path("/dev/shm") if Path("/dev/shm").is_dir() else None  # fsync is cheap there


class Peers(RuleBasedStateMachine):
    """Real stores and sessions (the system) beside a model of what must come out."""

    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="listsync-mesh-", dir=SHM))
        self.portal_cm = start_blocking_portal("asyncio")
        self.portal: BlockingPortal = self.portal_cm.__enter__()
        self.dbs: list[Database] = []

    @initialize(count=st.integers(3, 5))
    def start(self, count: int) -> None:
        for i in range(count):
            db = open_peer(self.root / f"p{i}")
            db.save(LIST_DOC_ID, normalise(START), rev=None)  # same rev id on every peer
            self.pictures = [db.blobs.put(f"picture {k}".encode(), "image/png") for k in range(2)]
            self.dbs.append(db)
        self.expected = {legacy_item_id(i["key"]): i["value"] for i in START["items"]}
        self.removed: set[str] = set()
        self.now = 0.0

    def teardown(self) -> None:
        try:
            if self.dbs:
                self._full_sync_and_check()
        finally:
            for db in self.dbs:
                db.close()
            self.portal_cm.__exit__(None, None, None)
            shutil.rmtree(self.root, ignore_errors=True)

    def _edit(self, peer: int, op: Any) -> bool:
        self.now += 1
        try:
            update_list(self.dbs[peer], op)
        except (UsageError, NotFoundError):
            return False
        return True

    def _live_id(self, peer: int, index: int) -> str | None:
        items = read_list(self.dbs[peer])["items"]
        return items[index % len(items)]["id"] if items else None

    # -- edits ---------------------------------------------------------------

    @rule(peer=st.integers(0, 4), index=st.integers(0, 9), delta=st.integers(-5, 5))
    def adjust_item(self, peer: int, index: int, delta: int) -> None:
        peer %= len(self.dbs)
        item = self._live_id(peer, index)
        if item is None or delta == 0:
            return
        if self._edit(peer, lambda b: adjust(b, item, delta, device=f"dev-{peer}", user="u",
                                             now=self.now)):
            self.expected[item] += delta

    @rule(peer=st.integers(0, 4), name=st.sampled_from(NAMES), qty=st.integers(0, 20))
    def add(self, peer: int, name: str, qty: int) -> None:
        peer %= len(self.dbs)
        before = set(quantities(self.dbs[peer]))
        if self._edit(peer, lambda b: add_item(b, name, qty, device=f"dev-{peer}", user="u",
                                               now=self.now)):
            (new,) = set(quantities(self.dbs[peer])) - before
            self.expected[new] = qty

    @rule(peer=st.integers(0, 4), index=st.integers(0, 9), name=st.sampled_from(NAMES))
    def rename(self, peer: int, index: int, name: str) -> None:
        peer %= len(self.dbs)
        item = self._live_id(peer, index)
        if item is not None:
            self._edit(peer, lambda b: rename_item(b, item, name + "!", device=f"dev-{peer}",
                                                   user="u", now=self.now))

    @rule(peer=st.integers(0, 4), index=st.integers(0, 9), picture=st.sampled_from([None, 0, 1]))
    def set_picture(self, peer: int, index: int, picture: int | None) -> None:
        peer %= len(self.dbs)
        item = self._live_id(peer, index)
        ref = None if picture is None else self.pictures[picture]
        if item is not None:
            self._edit(peer, lambda b: set_image(b, item, ref, device=f"dev-{peer}", user="u",
                                                 now=self.now))

    @rule(peer=st.integers(0, 4), index=st.integers(0, 9))
    def delete(self, peer: int, index: int) -> None:
        peer %= len(self.dbs)
        item = self._live_id(peer, index)
        if item is not None and self._edit(peer, lambda b: delete_item(
                b, item, device=f"dev-{peer}", user="u", now=self.now)):
            self.removed.add(item)

    @rule(peer=st.integers(0, 4), doc=st.sampled_from(NOTES), text=st.text(max_size=5),
          remove=st.booleans())
    def edit_note(self, peer: int, doc: str, text: str, remove: bool) -> None:
        db = self.dbs[peer % len(self.dbs)]
        current = db.get(doc)
        if remove:
            if current is not None and not current.deleted:
                db.delete(doc, rev=current.rev)
        else:
            db.save(doc, {"text": text, "by": peer % len(self.dbs)},
                    rev=None if current is None or current.deleted else current.rev)

    # -- sync and faults -------------------------------------------------------

    @rule(a=st.integers(0, 4), hop=st.integers(1, 4), mode=st.sampled_from(MODES))
    def sync(self, a: int, hop: int, mode: Mode) -> None:
        a = a % len(self.dbs)
        b = (a + hop) % len(self.dbs) if hop % len(self.dbs) else (a + 1) % len(self.dbs)
        session = self.portal.call(functools.partial(sync_pair, self.dbs[a], self.dbs[b],
                                                     mode=mode))
        assert session.error is None, session.error

    @rule(a=st.integers(0, 4), hop=st.integers(1, 4), mode=st.sampled_from(MODES),
          cut=st.integers(0, 9))
    def dropped_sync(self, a: int, hop: int, mode: Mode, cut: int) -> None:
        a = a % len(self.dbs)
        b = (a + hop) % len(self.dbs) if hop % len(self.dbs) else (a + 1) % len(self.dbs)
        self.portal.call(functools.partial(sync_pair, self.dbs[a], self.dbs[b], mode=mode,
                                           cut_after=cut))

    @rule(peer=st.integers(0, 4))
    def reopen(self, peer: int) -> None:
        peer %= len(self.dbs)
        self.dbs[peer].close()
        self.dbs[peer] = open_peer(self.root / f"p{peer}")

    @rule()
    def full_sync(self) -> None:
        self._full_sync_and_check()

    # -- the property ------------------------------------------------------------

    @invariant()
    def count_step(self) -> None:
        STEPS[0] += 1  # how many steps a run made (reported by the long run's caller)

    def _full_sync_and_check(self) -> None:
        n = len(self.dbs)
        for _ in range(2 * n + 2):  # resolutions made on the way need a few rounds to spread
            for i in [*range(n - 1), *range(n - 2, -1, -1)]:
                session = self.portal.call(sync_pair, self.dbs[i], self.dbs[i + 1])
                assert session.error is None, session.error
            maps = [tree_map(db) for db in self.dbs]
            if all(m == maps[0] for m in maps):
                break
        for i, m in enumerate(maps):
            assert m == maps[0], f"peer {i} differs from peer 0 after a full sync"
        for db in self.dbs:
            assert db.conflicts(LIST_DOC_ID) == []
            assert all(db.conflicts(d) == [] for d in NOTES)
        want = {k: v for k, v in self.expected.items() if k not in self.removed}
        assert quantities(self.dbs[0]) == want


Peers.TestCase.settings = settings(
    max_examples=2300 if LONG else 30, stateful_step_count=50, deadline=None,
    suppress_health_check=list(HealthCheck), derandomize=not LONG)
test_peers_converge_with_every_adjustment_applied_once = Peers.TestCase
