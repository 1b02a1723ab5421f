"""The push half of a client session: propose our changed leaves, send what the peer
wants, checkpoint our seq once acked. Proposals pipeline: the next goes out while
earlier ones are answered and their revisions sent.

With a peer that takes direct pushes (feature "direct"), small new revisions may
skip the proposal: they go out at once, full, and the ack says which the peer
already had. The first proposal of a session is a probe: only if the peer lacked
(nearly) all of it do later revisions go direct, and if most of a direct frame
comes back "had" anyway (a re-sync after a lost checkpoint, a mesh), the rest of
the session proposes first again. So a peer that holds what we offer is sent
little twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

import anyio

from engine.protocol import Ack, DocRev, Proposal, Propose, Proposed, RevisionData, trusted
from engine.store.peer import get_packed
from engine.sync.status import Direction
from engine.sync.storeio import SMALL, run_db

if TYPE_CHECKING:
    from engine.sync.client_session import ClientSession

FEED_BATCH = 1000  # local changes per propose frame
FIRST_BATCH = 100  # changes in the first propose frame of a drain
PUSH_WINDOW = 4  # proposals (or direct groups) awaiting an answer or their acks
# Direct pushes: a revision goes unproposed if its body (msgpack) is at most this big,
# references no blob, and no delta could be better (a first revision, a tombstone, or
# a peer without deltas); the inline pull feature's bound on a live edit's body.
DIRECT_BODY = 16 * 1024
DIRECT_PROBE = 0.9  # the share of the probe the peer must lack for direct pushes
DIRECT_MEMORY = 200_000  # revisions pushed direct per session, remembered to never resend


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
        self.pending: deque[list[Any]] = deque()  # [last_seq, parts not done yet]
        self.proposals: dict[int, tuple[tuple[Proposal, ...], list[Any]]] = {}
        self.batches: dict[int, list[Any]] = {}
        self.draining = False
        self.echo: set[DocRev] = set()  # pulled this session, so the peer has them
        # Direct pushes: `direct_ok` is set by the session from the peer's hello.
        self.direct_ok = False  # the peer takes them, and they have not failed us
        self.direct = False  # on: the probe showed the peer lacks what we offer
        self.deltas = False  # deltas agreed: updates are proposed, to be sent as deltas
        self.pushed_direct: set[DocRev] = set()  # never sent twice: proposed if offered again
        self._groups = 0  # direct groups are numbered -1, -2, ...: never a propose id
        self._probe: anyio.Event | None = None  # set once the first proposal is answered
        self._probe_id = -1

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
            proposals, direct, since, drained = found
            if self.echo:
                # Revisions we pulled from this peer: it has them, don't offer them back.
                echoed = self.echo.intersection((p.doc_id, p.rev) for p in proposals)
                echoed.update(self.echo.intersection([r.key for r in direct]))
                if echoed:
                    proposals = tuple(p for p in proposals if (p.doc_id, p.rev) not in echoed)
                    direct = [r for r in direct if r.key not in echoed]
                    self.echo -= echoed
            if direct:
                proposals, direct = self._direct_or_not(proposals, direct)
            self.idle = False
            entry = [since, 1]  # one part (this loop) until the parts below are counted
            self.pending.append(entry)
            if direct:
                await self.window.acquire()
                if self.direct:
                    entry[1] += 1
                    self._push_direct(direct, entry)
                else:  # turned off while we waited: a direct frame came back mostly had
                    self.window.release()
                    proposals += tuple([trusted.proposal(r.doc_id, r.rev) for r in direct])
            if proposals:
                entry[1] += 1
                await self.window.acquire()

                def make(i: int, proposals: tuple[Proposal, ...] = proposals,
                         entry: list[Any] = entry) -> Propose:
                    self.proposals[i] = (proposals, entry)
                    return Propose(i, proposals)

                sent = await self.link.send(make)
                if self.direct_ok and self._probe is None:
                    # The probe: nothing more goes out until its answer says how.
                    self._probe, self._probe_id = anyio.Event(), cast(Propose, sent).id
                    await self._probe.wait()
            entry[1] -= 1
        self.draining = False
        await self._advance()
        return since

    def skip_probe(self) -> None:
        """The peer's database held no revision at its hello: whatever we offer, it
        lacks, so revisions go direct from the first batch, unprobed. (Should another
        peer fill it meanwhile, the acks' `have` turn direct off as usual.)"""
        self.direct = True
        self._probe = anyio.Event()
        self._probe.set()  # (its id stays -1: no proposal is taken for the probe)

    def _local_changes(self, since: int, size: int) -> tuple[
            tuple[Proposal, ...], list[RevisionData], int, bool] | None:
        """(leaves to propose, revisions to push direct, last seq, whether that was
        all) after `since`; None when there is nothing. Blocking."""
        limit = min(FEED_BATCH, size)
        changes = self.db.changes(since, limit)
        if not changes:
            return None
        wanted, check = self.config.doc_ids, self.config.push_filter
        out: list[Proposal] = []
        direct, deltas = self.direct, self.deltas
        candidates: list[DocRev] = []
        for c in changes:
            if wanted is not None and c.doc_id not in wanted:
                continue
            if check is not None:
                doc = self.db.get(c.doc_id)
                if doc is None or not check(doc.id, doc.deleted, doc.body):
                    continue
            # Direct: a document with one leaf (other leaves may be offered again later)
            # whose revision no delta could beat.
            if direct and len(c.leaves) <= 1 and (
                    c.rev[:2] == "1-" or c.deleted or not deltas):
                candidates.append((c.doc_id, c.rev))
            else:
                out.extend(trusted.proposal(c.doc_id, leaf) for leaf in (c.leaves or [c.rev]))
        revs = self._load_direct(candidates, out) if candidates else []
        return tuple(out), revs, changes[-1].seq, len(changes) < limit

    def _load_direct(self, keys: list[DocRev], proposals: list[Proposal]
                     ) -> list[RevisionData]:
        """The revisions `keys` with their bodies as the journal holds them (msgpack);
        any that is not small and blob-free is added to `proposals` instead."""
        out = []
        for (doc_id, rev), found in zip(keys, get_packed(self.db, keys), strict=True):
            packed = None if found is None else found[1]
            if packed is None and found is not None and found[0]:
                packed = b"\x80"  # a tombstone whose body was not kept: {}
            # b"@type" (any string holding it, a blob reference's key among them) is a
            # cheap, safe test: the revision is then proposed, as before. (b"@" first: a
            # one-byte search is a memchr, ~5x faster on a 1 KB body than the word's.)
            if found is None or packed is None or len(packed) > DIRECT_BODY or (
                    b"@" in packed and b"@type" in packed):
                proposals.append(trusted.proposal(doc_id, rev))
                continue
            out.append(trusted.full_revision(doc_id, rev, found[0], tuple(found[2]), packed))
        return out

    def _direct_or_not(self, proposals: tuple[Proposal, ...], direct: list[RevisionData]
                       ) -> tuple[tuple[Proposal, ...], list[RevisionData]]:
        """Those of `direct` still to push direct, the others proposed."""
        if self.direct:
            sent = self.pushed_direct
            again = [r for r in direct if r.key in sent] if sent else []
            if not again:
                return proposals, direct
            direct = [r for r in direct if r.key not in sent]
        else:  # turned off since they were read
            again, direct = direct, []
        return (*proposals, *[trusted.proposal(r.doc_id, r.rev) for r in again]), direct

    def _push_direct(self, revs: list[RevisionData], entry: list[Any]) -> None:
        """Hand a group to the sender (a window place is held for it)."""
        self._groups -= 1
        group = self._groups
        self.batches[group] = entry
        self.pushed_direct.update([r.key for r in revs])
        if len(self.pushed_direct) > DIRECT_MEMORY:
            self.direct = self.direct_ok = False  # a bound on memory: propose from now on
        self.session.total += len(revs)
        self._set_status()
        self.session.sender.enqueue_direct(group, revs)  # after the revisions asked for

    def on_outcomes(self, group: int, sent: int, ack: Ack) -> None:
        """A direct frame of `sent` revisions came back naming some it did not store;
        those are not counted, nor reported as pushed (as a "have" answer would do)."""
        self.session.total -= len(ack.have) + len(ack.refused)
        for doc_id, rev, reason in ack.refused:
            self.blocked[Direction.PUSH] = True
            self._event((doc_id, rev), Direction.PUSH, error=reason)
        if len(ack.have) * 2 > sent:
            # Mostly sent for nothing: the peer holds what we have (a re-sync after a
            # lost checkpoint, a mesh). Ask first for the rest of the session.
            self.direct = self.direct_ok = False

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
        if msg.re == self._probe_id and self._probe is not None:
            # Direct pushes pay only if the peer lacks what we offer: a fresh push, not
            # a resumed one (where what follows the checkpoint may be partly there).
            self.direct = self.direct_ok and len(wants) >= len(proposals) * DIRECT_PROBE
            self._probe.set()
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
        entry[1] -= 1
        self.window.release()
        await self._advance()

    async def _advance(self) -> None:
        seq = None
        while self.pending and not self.pending[0][1]:
            seq = self.pending.popleft()[0]
        if seq is not None:
            self.checkpoints.save(Direction.PUSH, seq)
        if not (self.draining or self.pending or self.proposals or self.batches):
            self.idle = True
        self._set_status()
