"""Checkpoints: a second sync of unchanged data moves no revisions, even without them."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from engine.sync.client_session import checkpoint_id
from engine.sync.status import Direction
from tests.sync.peers import MemoryPeer, doc_map, open_db, sync_once

pytestmark = pytest.mark.anyio


async def test_checkpoint_resume_transfers_nothing(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    for i in range(20):
        a.save(f"a{i}", {"i": i}, rev=None)
        b.save(f"b{i}", {"i": i}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer)
        rep = await sync_once(a, peer)
        tg.cancel_scope.cancel()
    stats = rep.last_stats
    assert stats is not None
    assert stats.revs_sent == stats.revs_received == 0
    assert stats.frames_received <= 4  # hello, caught_up, and little else
    assert a.get_local(checkpoint_id(b.uuid, Direction.PULL)) is not None


async def test_lost_checkpoint_compares_everything_and_duplicates_nothing(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    for i in range(20):
        a.save(f"a{i}", {"i": i}, rev=None)
        b.save(f"b{i}", {"i": i}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer)
        before_a, before_b = a.update_seq, b.update_seq
        for direction in Direction:
            a.put_local(checkpoint_id(b.uuid, direction), None)
        rep = await sync_once(a, peer)
        tg.cancel_scope.cancel()
    stats = rep.last_stats
    assert stats is not None and stats.revs_sent == stats.revs_received == 0
    assert (a.update_seq, b.update_seq) == (before_a, before_b)
    assert doc_map(a) == doc_map(b) and len(doc_map(a)) == 40


async def test_restarted_replicator_sends_only_new_changes(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    for i in range(10):
        a.save(f"a{i}", {"i": i}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer)
        a.save("late", {"i": 99}, rev=None)
        rep = await sync_once(a, peer)
        tg.cancel_scope.cancel()
    assert rep.last_stats is not None and rep.last_stats.revs_sent == 1
    assert b.get("late") is not None
