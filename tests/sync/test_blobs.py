"""Blobs travel with the revisions that reference them, verified, in chunks."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import anyio
import pytest

from engine.protocol import Limits
from engine.sync.config import Mode
from tests.sync.peers import MemoryPeer, doc_map, open_db, sync_once

pytestmark = pytest.mark.anyio


def _payload(size: int) -> bytes:
    return (hashlib.sha256(b"seed").digest() * (size // 32 + 1))[:size]


@pytest.mark.parametrize("mode", [Mode.PULL, Mode.PUSH])
async def test_multi_chunk_blob_syncs_before_its_revision(tmp_path: Path, mode: Mode) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    source = b if mode is Mode.PULL else a
    data = _payload(300_000)
    ref = source.blobs.put(data, "image/png")
    source.save("apple", {"key": "apple", "value": 3, "image": ref}, rev=None)
    small = Limits(max_frame=64 * 1024)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg, limits=small, max_frame=small.max_frame)
        rep = await sync_once(a, peer, mode=mode, limits=small)
        tg.cancel_scope.cancel()
    assert doc_map(a) == doc_map(b)
    target = a if mode is Mode.PULL else b
    assert target.blobs.read(ref["digest"]) == data
    chunk_frames = rep.last_stats.frames_received if mode is Mode.PULL else (
        peer.sessions[0].frames_received)
    assert chunk_frames >= 5  # 300 kB in chunks under a 64 KiB frame limit


async def test_fifty_megabyte_blob_syncs(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    size = 50 * 1024 * 1024
    data = os.urandom(size)
    ref = b.blobs.put(data, "application/octet-stream")
    b.save("big", {"file": ref}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer, mode=Mode.PULL)
        tg.cancel_scope.cancel()
    assert a.blobs.has(ref["digest"]) and a.get("big") is not None
    assert hashlib.sha256(a.blobs.read(ref["digest"])).hexdigest() == ref["digest"][7:]


async def test_revision_whose_blob_the_peer_lacks_is_reported_not_stored(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    ref = b.blobs.put(b"picture", "image/png")
    b.save("pear", {"image": ref}, rev=None)
    b.save("plum", {"value": 1}, rev=None)
    (b.path / "blobs" / ref["digest"][7:]).unlink()  # lost on the server's disk
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        from tests.sync.peers import replicator
        rep = replicator(a, peer, mode=Mode.PULL)
        events = rep.events()
        await rep.run()
        tg.cancel_scope.cancel()
    async with events:
        failed = [e async for e in events if getattr(e, "error", None) and hasattr(e, "doc_id")]
    assert a.get("pear") is None and a.get("plum") is not None
    assert [e.doc_id for e in failed] == ["pear"]
