"""A delta whose base the receiver trims before it arrives: still applied, not sent twice.

The receiver names the ancestors it holds with a body when it asks for a revision;
writes from another connection may push that base past `max_ancestor_bodies`
(its body is trimmed) before the delta comes. The journal still holds the body,
so the receiver applies the delta instead of asking for the revision again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgpack
import pytest

from engine.protocol import RevisionData, make_delta
from engine.store import Database, make_rev_id
from engine.sync.channel import MessageChannel
from engine.sync.config import Mode
from engine.sync.storeio import resolve_revisions
from tests.sync.peers import ChannelWrapper, MemoryPeer, open_db, replicator

pytestmark = pytest.mark.anyio

BODY = {f"field-{i}": f"a value long enough to make a delta pay {i}" for i in range(20)}


def grow(db: Database, doc_id: str, rev: str, generations: int) -> str:
    """Write `generations` children on top of `rev` (as another peer's pushes would)."""
    for i in range(generations):
        rev = db.save(doc_id, {**BODY, "other": i}, rev=rev)
    return rev


class _RevsHook(ChannelWrapper):
    """A client channel end that runs `before` once, before the first revs frame goes."""

    def __init__(self, inner: MessageChannel, before: Any, sent: Counter[tuple[str, str]]
                 ) -> None:
        super().__init__(inner)
        self.before = before
        self.sent = sent

    async def send(self, frame: bytes) -> None:
        msg = msgpack.unpackb(frame)
        if msg["t"] == "revs":
            if self.before is not None:
                self.before()
                self.before = None
            self.sent.update((r["doc"], r["rev"]) for r in msg["revs"])
        await self.inner.send(frame)


async def test_pushed_delta_on_a_base_trimmed_meanwhile_is_sent_once(tmp_path: Path) -> None:
    client, server = open_db(tmp_path, "client"), open_db(tmp_path, "server")
    base = client.save("doc", BODY, rev=None)
    assert server.save("doc", BODY, rev=None) == base  # same body, same id: held by both
    mine = client.save("doc", {**BODY, "mine": True}, rev=base)
    sent: Counter[tuple[str, str]] = Counter()
    async with anyio.create_task_group() as tg:
        peer = MemoryPeer(server, tg)

        @asynccontextmanager
        async def connect() -> AsyncIterator[MessageChannel]:
            async with peer.connect() as channel:
                # The server said it holds `base`; now other writes trim its body.
                yield _RevsHook(channel, lambda: grow(server, "doc", base, 6), sent)

        rep = replicator(client, connect, mode=Mode.PUSH)
        with anyio.fail_after(30):
            await rep.run()
        tg.cancel_scope.cancel()
    assert server.get_rev("doc", base).body is None  # trimmed before the delta came
    assert server.get_rev("doc", mine).body == {**BODY, "mine": True}
    assert sent[("doc", mine)] == 1
    assert peer.errors == []


def test_delta_applies_to_a_base_trimmed_lately(tmp_path: Path) -> None:
    with Database.open(tmp_path / "db") as db:
        base = db.save("doc", BODY, rev=None)
        grow(db, "doc", base, 6)
        assert db.get_rev("doc", base).body is None
        body = {**BODY, "mine": True}
        rev = make_rev_id(base, False, body)
        delta = RevisionData("doc", rev, False, (rev, base), base=base,
                             delta=make_delta(BODY, body))
        ready, full, _ = resolve_revisions(db, (delta,))
    assert full == [] and [r.body for r in ready] == [body]
