"""The push half of a client session: propose our changed leaves, send what the peer
wants, checkpoint our seq once acked. Proposals pipeline: the next goes out while
earlier ones are answered and their revisions sent.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

import anyio

from engine.protocol import DocRev, Proposal, Propose, Proposed, trusted
from engine.sync.status import Direction
from engine.sync.storeio import SMALL, run_db

if TYPE_CHECKING:
    from engine.sync.client_session import ClientSession

FEED_BATCH = 1000  # local changes per propose frame
FIRST_BATCH = 100  # changes in the first propose frame of a drain
PUSH_WINDOW = 4  # proposals awaiting an answer or their acks


class Pusher:
    """A session's push state; the session runs `run`, feeds it `on_proposed`, and
    its RevisionSender reports back through `pushed` and `batch_done`."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session  # owns the counts and the status
        self.link = session.link
        self.db = session.db
        self.config = session.config
        self.checkpoints = session.checkpoints
        self.blocked = session.checkpoints.blocked  # a doc failed: hold that checkpoint
        # Bound once: they are called per document.
        self._event = session.event
        self._set_status = session.set_status
        self.idle = not self.config.mode.pushes
        self.window = anyio.Semaphore(PUSH_WINDOW)
        self.pending: deque[list[Any]] = deque()  # [last_seq, complete]
        self.proposals: dict[int, tuple[tuple[Proposal, ...], list[Any]]] = {}
        self.batches: dict[int, list[Any]] = {}
        self.draining = False
        self.echo: set[DocRev] = set()  # pulled this session, so the peer has them

    async def run(self) -> None:
        since = await self._drain(await self.checkpoints.load(Direction.PUSH))
        if not self.config.continuous:
            return
        async with aclosing(cast(AsyncGenerator[int, None], self.db.subscribe(since))) as updates:
            async for seq in updates:
                since = await self._drain(since, small=seq - since <= SMALL)

    async def _drain(self, since: int, small: bool = False) -> int:
        """Propose local changes after `since`; `small`: a few (a live edit), read inline."""
        self.draining = True
        size = FIRST_BATCH  # then x4 each: the first revisions go out sooner
        drained = False
        while not drained:
            found = await run_db(self.db, small, self._local_changes, since, size)
            small, size = False, size * 4
            if found is None:
                break
            # A short read drained the feed (a later write wakes it): no second look,
            # which for a live edit would be a trip to a worker thread.
            proposals, since, drained = found
            if self.echo:
                # Revisions we pulled from this peer: it has them, don't offer them back.
                echoed = self.echo.intersection((p.doc_id, p.rev) for p in proposals)
                if echoed:
                    proposals = tuple(p for p in proposals if (p.doc_id, p.rev) not in echoed)
                    self.echo -= echoed
            self.idle = False
            entry = [since, False]
            self.pending.append(entry)
            if not proposals:
                entry[1] = True
                continue
            await self.window.acquire()

            def make(i: int, proposals: tuple[Proposal, ...] = proposals,
                     entry: list[Any] = entry) -> Propose:
                self.proposals[i] = (proposals, entry)
                return Propose(i, proposals)

            await self.link.send(make)
        self.draining = False
        await self._advance()
        return since

    def _local_changes(self, since: int, size: int
                       ) -> tuple[tuple[Proposal, ...], int, bool] | None:
        """(leaves to propose, last seq, whether that was all) after `since`; None when
        there is nothing. Blocking."""
        limit = min(FEED_BATCH, size)
        changes = self.db.changes(since, limit)
        if not changes:
            return None
        wanted, check = self.config.doc_ids, self.config.push_filter
        out: list[Proposal] = []
        for c in changes:
            if wanted is not None and c.doc_id not in wanted:
                continue
            if check is not None:
                doc = self.db.get(c.doc_id)
                if doc is None or not check(doc.id, doc.deleted, doc.body):
                    continue
            out.extend(trusted.proposal(c.doc_id, leaf) for leaf in (c.leaves or [c.rev]))
        return tuple(out), changes[-1].seq, len(changes) < limit

    async def on_proposed(self, msg: Proposed) -> None:
        proposals, entry = self.proposals.pop(msg.re)
        wants = []
        for p, answer in zip(proposals, msg.answers, strict=True):
            if answer.verdict == "send":
                wants.append(trusted.want(p.doc_id, (p.rev,), answer.ancestors))
            elif answer.verdict == "refused":
                self.blocked[Direction.PUSH] = True
                self._event((p.doc_id, p.rev), Direction.PUSH, error=answer.reason)
        self.batches[msg.re] = entry
        self.session.total += len(wants)
        self._set_status()
        if wants:
            self.session.sender.enqueue(msg.re, wants)
        else:
            await self.batch_done(msg.re)

    def pushed(self, batch: int, keys: list[DocRev]) -> None:
        self.session.done += len(keys)
        for key in keys:
            self._event(key, Direction.PUSH)

    async def batch_done(self, batch: int) -> None:
        entry = self.batches.pop(batch, None)
        if entry is None:
            return  # already counted (the sender may report a batch twice)
        entry[1] = True
        self.window.release()
        await self._advance()

    async def _advance(self) -> None:
        seq = None
        while self.pending and self.pending[0][1]:
            seq = self.pending.popleft()[0]
        if seq is not None:
            self.checkpoints.save(Direction.PUSH, seq)
        if not (self.draining or self.pending or self.proposals or self.batches):
            self.idle = True
        self._set_status()
