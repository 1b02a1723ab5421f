"""Document-id filters, push/pull filter functions, and the pending-documents query."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.sync.config import Mode
from engine.sync.status import DocumentReplicated
from tests.sync.peers import MemoryPeer, open_db, replicator, sync_once

pytestmark = pytest.mark.anyio


def _only_fruit(doc_id: str, deleted: bool, body: dict[str, Any]) -> bool:
    return body.get("kind") == "fruit"


async def test_doc_id_filter_limits_both_directions(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    for name in ("list", "other-a"):
        a.save(name, {"from": "a"}, rev=None)
    b.save("other-b", {"from": "b"}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        await sync_once(a, peer, doc_ids=frozenset({"list", "other-b-not-here"}))
        tg.cancel_scope.cancel()
    assert b.get("list") is not None and b.get("other-a") is None
    assert a.get("other-b") is None


async def test_push_filter_and_pending_ids(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    a.save("apple", {"kind": "fruit"}, rev=None)
    a.save("hammer", {"kind": "tool"}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer, mode=Mode.PUSH, push_filter=_only_fruit)
        assert await rep.pending_document_ids() == {"apple"}
        await rep.run()
        assert await rep.pending_document_ids() == set()
        a.save("pear", {"kind": "fruit"}, rev=None)
        assert await rep.pending_document_ids() == {"pear"}
        tg.cancel_scope.cancel()
    assert b.get("apple") is not None and b.get("hammer") is None


async def test_pull_filter_rejections_are_reported_per_document(tmp_path: Path) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    b.save("apple", {"kind": "fruit"}, rev=None)
    b.save("hammer", {"kind": "tool"}, rev=None)
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(b, tg)
        rep = replicator(a, peer, mode=Mode.PULL, pull_filter=_only_fruit)
        events = rep.events()
        await rep.run()
        tg.cancel_scope.cancel()
    async with events:
        docs = [e async for e in events if isinstance(e, DocumentReplicated)]
    assert a.get("apple") is not None and a.get("hammer") is None
    assert {(e.doc_id, e.error) for e in docs} == {
        ("apple", None), ("hammer", "rejected by the filter")}
