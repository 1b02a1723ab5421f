"""The passive side of one sync connection: `serve_peer` answers a client.

It serves pull subscriptions from the change feed (one-shot or continuous),
accepts pushes (unless read-only), and serves blobs. A peer's protocol error
ends only this session, with a ProtocolError after telling the peer why.
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncGenerator, Collection
from contextlib import aclosing
from typing import cast

import anyio
from anyio.abc import TaskGroup

from engine.errors import LocalProtocolError, NetworkError, ProtocolError
from engine.protocol import (
    DEFAULT_LIMITS,
    FEATURES,
    Ack,
    Answer,
    CaughtUp,
    Change,
    Changes,
    Connection,
    DocRev,
    Error,
    GetBlob,
    Hello,
    Limits,
    Message,
    Missing,
    Ping,
    Pong,
    Propose,
    Proposed,
    RevisionData,
    Revs,
    Role,
    Subscribe,
    trusted,
)
from engine.protocol.inline import INLINE_BULK_FEATURE, INLINE_FEATURE
from engine.store.database import Database
from engine.sync.blobxfer import serve_blob
from engine.sync.busy import BusyContext, BusyMarks
from engine.sync.channel import MessageChannel
from engine.sync.inline import InlineSender
from engine.sync.link import Link, SessionStats, one_error
from engine.sync.storeio import SMALL, run_db
from engine.sync.transfer import RevisionReceiver, RevisionSender

FEED_BATCH = 1000  # change entries per changes frame
# The first frame of a drain is smaller (then x4 each), so the first revisions
# arrive and are stored while the following batches are being compared.
FIRST_BATCH = 100
FEED_WINDOW = 4  # changes frames the client may leave unanswered
_HAVE = Answer("have")
_SEND = Answer("send")
_READ_ONLY = "This peer is read-only and refuses pushes."


async def serve_peer(channel: MessageChannel, db: Database, *, read_only: bool = False,
                     deltas: bool = True, peer_id: str | None = None,
                     limits: Limits = DEFAULT_LIMITS, stats: SessionStats | None = None,
                     busy: BusyContext | None = None) -> None:
    """Serve one client until it disconnects; raises ProtocolError if it broke the rules.

    `busy` (like `ServerChannel.busy`) is entered while revisions or blobs move."""
    link = Link(channel, Connection(Role.SERVER, limits), stats)
    marks = BusyMarks(busy)
    try:
        with one_error():
            await _Server(link, db, read_only, deltas, peer_id, marks).run()
    except NetworkError:
        return  # the client went away: a normal end for a passive peer
    except LocalProtocolError as err:
        await link.fail("internal", "The server hit an internal error.")
        raise ProtocolError(f"This peer broke the sync protocol: {err}") from err
    finally:
        marks.release_all()
        await link.close()
        _trim_heap()


class _Server:
    def __init__(self, link: Link, db: Database, read_only: bool, deltas: bool,
                 peer_id: str | None, marks: BusyMarks) -> None:
        self.link = link
        self.marks = marks
        self.db = db
        self.read_only = read_only
        self.deltas = deltas
        self.peer_id = peer_id or f"listsync-{db.uuid[:8]}"
        self.windows: dict[int, anyio.Semaphore] = {}  # changes id -> its feed's window
        self.awaiting: set[DocRev] = set()  # pushed revs we answered "send" for
        # Proposals and revs are two tasks, so answering the next propose never waits
        # for the previous revs to be stored.
        self.proposals_in, self.proposals = anyio.create_memory_object_stream[Propose](math.inf)
        self.pushes_in, self.pushes = anyio.create_memory_object_stream[Revs](math.inf)
        self.diffing = False  # a revs_diff is running: note what gets stored meanwhile
        self.stored_meanwhile: set[DocRev] = set()

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            for stream in (self.proposals_in, self.proposals, self.pushes_in, self.pushes):
                stream.close()
            if hasattr(self, "sender"):
                self.sender.close()

    async def _run(self) -> None:
        hello = await self.link.receive()
        assert isinstance(hello, Hello) and hello.id is not None  # the state machine ensures it
        # Without "deltas" in our hello the client sends us full bodies too.
        features = tuple(f for f in FEATURES if self.deltas or f != "deltas")
        # `empty`: a database that never held a revision lacks whatever the client
        # pushes, so it may skip the probe of direct pushes (a hint: see client_push).
        await self.link.send(Hello(self.peer_id, self.db.uuid, features, self.read_only,
                                   re=hello.id,
                                   empty=not self.read_only and self.db.update_seq == 0))
        deltas = self.deltas and "deltas" in hello.features
        self.inline = InlineSender(self.db, INLINE_FEATURE in hello.features,
                                   INLINE_BULK_FEATURE in hello.features,
                                   self.link.conn.limits.max_frame)
        self.sender = RevisionSender(self.link, self.db, deltas=deltas, on_done=self._sent,
                                     on_delivered=self.inline.note_delivered)
        self.receiver = RevisionReceiver(self.link, self.db)
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.sender.run)
            tg.start_soon(self._push_worker)
            tg.start_soon(self._propose_worker)
            while True:
                await self._dispatch(tg, await self.link.receive())

    async def _dispatch(self, tg: TaskGroup, msg: Message) -> None:
        if isinstance(msg, Subscribe):
            tg.start_soon(self._feed, msg)
        elif isinstance(msg, Missing):
            self.windows.pop(msg.re).release()
            self.inline.note_missing(msg)
            if msg.docs:
                self.sender.enqueue(msg.re, list(msg.docs))
            else:
                self.marks.release(("pull", msg.re))
        elif isinstance(msg, Propose):
            self.proposals_in.send_nowait(msg)
        elif isinstance(msg, Revs):
            self.pushes_in.send_nowait(msg)
        elif isinstance(msg, Ack):
            await self.sender.on_ack(msg)
        elif isinstance(msg, GetBlob):
            tg.start_soon(self._serve_blob, msg)
        elif isinstance(msg, Ping):
            await self.link.send(Pong(msg.id))
        elif isinstance(msg, Error) and msg.fatal:
            if msg.code in ("protocol", "version", "internal"):
                raise ProtocolError(f"The peer gave up on the session: {msg.message}")
            raise NetworkError(f"The peer ended the session: {msg.message}")

    async def _sent(self, batch: int) -> None:
        self.marks.release(("pull", batch))

    async def _serve_blob(self, msg: GetBlob) -> None:
        with self.marks.during():
            await serve_blob(self.link, self.db, msg)

    async def _feed(self, sub: Subscribe) -> None:
        window = anyio.Semaphore(FEED_WINDOW)
        if sub.fresh:
            self.inline.note_fresh()
        with self.marks.during():
            since = await self._drain(sub, sub.since, window)
        if not sub.continuous:
            return
        async with aclosing(cast(AsyncGenerator[int, None], self.db.subscribe(since))) as updates:
            async for seq in updates:
                with self.marks.during():
                    since = await self._drain(sub, since, window, small=seq - since <= SMALL)

    async def _drain(self, sub: Subscribe, since: int, window: anyio.Semaphore,
                     small: bool = False) -> int:
        """Send every change after `since`, then caught_up; returns the new since.
        `small`: few changes are expected (a live edit), so the store is read inline."""
        wanted = None if sub.doc_ids is None else set(sub.doc_ids)
        size = FIRST_BATCH
        live = small
        while True:
            limit = min(size, FEED_BATCH)
            changes = await run_db(self.db, small, self.db.changes, since, limit)
            small, size = False, size * 4
            if not changes:
                break
            # Built unchecked: the store checked these ids when it wrote them.
            entries = tuple(
                trusted.change(c.seq, c.doc_id, c.rev, c.deleted, _other_leaves(c.rev, c.leaves))
                for c in changes if wanted is None or c.doc_id in wanted)
            last = changes[-1].seq
            # A live edit's body rides along: the client need not ask for it. A bulk
            # frame's bodies too, while the client lacks them ("inline_bulk").
            while True:
                await window.acquire()
                if live:
                    inline, cut = await self.inline.for_frame(entries), len(entries)
                else:
                    inline, cut = await self.inline.for_bulk(entries)
                part = entries[:cut] if cut < len(entries) else entries
                await self.link.send(functools.partial(
                    self._changes, sub, window, part,
                    part[-1].seq if cut < len(entries) else last, inline, not live))
                entries = entries[cut:]
                if not entries:
                    break
            live = False
            since = last
            if len(changes) < limit:
                break  # drained as of that read; a later write wakes the feed again
        await self.link.send(CaughtUp(sub.id, since))
        return since

    def _changes(self, sub: Subscribe, window: anyio.Semaphore, entries: tuple[Change, ...],
                 last: int, inline: tuple[RevisionData, ...], bulk: bool,
                 request_id: int) -> Changes:
        self.windows[request_id] = window
        self.marks.hold(("pull", request_id))  # until answered and its revs acked
        if bulk:
            self.inline.note_offered(request_id, entries, inline)
        else:
            self.inline.note_sent(request_id, inline)
        # Unchecked: entries from our feed, inline revisions read for them.
        return trusted.changes(request_id, sub.id, entries, last, inline)

    async def _propose_worker(self) -> None:
        async for msg in self.proposals:
            await self._answer(msg)
            self._mark_push()

    async def _push_worker(self) -> None:
        async with self.pushes:
            async for msg in self.pushes:
                if msg.direct and self.read_only:  # refused as a propose would be
                    await self.link.send(Error("read_only", _READ_ONLY, re=msg.id))
                    continue
                with self.marks.during():
                    received = await self.receiver.handle(msg)
                if len(received.keys) != len(received.stored):  # some failed or need a body
                    stored: Collection[DocRev] = [(r.doc_id, r.rev) for r in received.stored]
                else:  # all of the frame: a set already, whose hashes set operations reuse
                    stored = received.keys
                if self.diffing:
                    self.stored_meanwhile.update(stored)
                self.awaiting.difference_update(stored)
                self.inline.note_pushed(received.stored, stored)
                self.awaiting.difference_update(key for key, _ in received.failed)
                self.awaiting.difference_update(msg.gone)
                self._mark_push()

    def _mark_push(self) -> None:
        # Busy from answering "send" until every revision asked for has come.
        if self.awaiting:
            self.marks.hold("push")
        else:
            self.marks.release("push")

    async def _answer(self, msg: Propose) -> None:
        if self.read_only:
            await self.link.send(Error("read_only", _READ_ONLY, re=msg.id))
            return
        asked: dict[str, list[str]] = {}
        for p in msg.revs:
            asked.setdefault(p.doc_id, []).append(p.rev)
        self.diffing = True
        try:
            diff = await run_db(self.db, len(asked) <= SMALL, self.db.revs_diff, asked)
            recent = self.stored_meanwhile
        finally:
            self.diffing = False
            self.stored_meanwhile = set()
        answers = []
        awaiting = self.awaiting
        nothing: tuple[list[str], list[str]] = ([], [])
        for p in msg.revs:
            missing, ancestors = diff.get(p.doc_id, nothing)
            key = (p.doc_id, p.rev)
            if p.rev in missing and key not in awaiting and key not in recent:
                awaiting.add(key)
                # A new document (no ancestors held) is the common case: one shared answer.
                answers.append(trusted.send(tuple(ancestors)) if ancestors else _SEND)
            else:
                answers.append(_HAVE)
        await self.link.send(Proposed(msg.id, tuple(answers)))


def _other_leaves(winner: str, leaves: list[str]) -> tuple[str, ...]:
    return () if len(leaves) == 1 else tuple(r for r in leaves if r != winner)


def _trim_heap() -> None:
    """Hand the heap's free pages back to the OS (glibc) when a session ends: a session
    moves megabytes of frames, and a long-lived listener's size should follow what it
    holds, not its busiest moment (the next login's 16 MiB scrypt comes on top)."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc
