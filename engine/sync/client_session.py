"""The active side of one connection: handshake, dispatch, heartbeat, and the pull half
(subscribe, answer each `changes` with what we lack, store `revs` frames, checkpoint the
server's seq once a batch and all before it are stored); the push half is client_push.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import anyio
from anyio.abc import TaskGroup

from engine.errors import NetworkError, ProtocolError, ReadOnlyError
from engine.protocol import (
    FEATURES,
    Ack,
    CaughtUp,
    Changes,
    Connection,
    DocRev,
    Error,
    GetBlob,
    Hello,
    Message,
    Missing,
    Ping,
    Pong,
    Proposed,
    Revs,
    Role,
    Subscribe,
    trusted,
)
from engine.protocol.direct import DIRECT_FEATURE
from engine.store.database import Database
from engine.store.revs import Revision
from engine.sync.blobxfer import serve_blob
from engine.sync.channel import MessageChannel
from engine.sync.checkpoints import Checkpoints
from engine.sync.checkpoints import checkpoint_id as checkpoint_id  # re-exported (tests, tools)
from engine.sync.client_push import Pusher
from engine.sync.config import ReplicatorConfig
from engine.sync.inline import InlineStored, pick, store_inline
from engine.sync.link import Link, SessionStats, one_error
from engine.sync.status import Activity, Direction, DocumentReplicated, EventHub, ReplicatorStatus
from engine.sync.storeio import SMALL, run_db
from engine.sync.transfer import RevisionReceiver, RevisionSender


class ClientSession:
    """One connection's worth of replication; `run` returns when a one-shot is done."""

    def __init__(self, channel: MessageChannel, db: Database, config: ReplicatorConfig,
                 hub: EventHub, stats: SessionStats | None = None) -> None:
        self.link = Link(channel, Connection(Role.CLIENT, config.limits), stats)
        self.db = db
        self.config = config
        self.hub = hub
        self.remote_uuid = ""
        self.handshake_done = False
        self.peer_read_only = False
        self.peer_empty = False  # its hello said its database holds no revision
        self.push_refused: ReadOnlyError | None = None  # set when a read-only peer is met
        self.done = self.total = 0
        self.pull_idle = not config.mode.pulls
        self.all_done = anyio.Event()
        # pull state
        # The feed (changes, caught_up) and the storing of revs run as two tasks, so
        # answering the next changes never waits for the previous revs to be stored.
        self.pulls_in, self.pulls = anyio.create_memory_object_stream[Changes | CaughtUp](
            math.inf)
        self.stores_in, self.stores = anyio.create_memory_object_stream[Revs](math.inf)
        self.diffing = False  # a revs_diff is running: note what gets stored meanwhile
        self.stored_meanwhile: set[DocRev] = set()
        self.checkpoints = Checkpoints(db, continuous=config.continuous)
        self.pull_pending: deque[list[Any]] = deque()  # [changes id, last_seq, complete]
        self.pull_inflight: set[DocRev] = set()
        # Revisions each batch still waits for, as the pull worker has processed frames
        # (the protocol object already knows of frames still queued for the worker).
        self.pull_waiting: dict[int, set[DocRev]] = {}
        self.pull_caught_up: int | None = None
        self.blocked = self.checkpoints.blocked  # a doc failed: hold that checkpoint
        self.push = Pusher(self)  # the push half: shares the counts, status and sender

    async def run(self) -> None:
        try:
            with one_error():
                await self._run()
        finally:
            for stream in (self.pulls_in, self.pulls, self.stores_in, self.stores):
                stream.close()
            if hasattr(self, "sender"):
                self.sender.close()
            with anyio.CancelScope(shield=True):
                await self.checkpoints.flush()
                await self.link.close()

    async def _run(self) -> None:
        with anyio.fail_after(self.config.connect_timeout):
            await self._handshake()
        pushes = self.config.mode.pushes
        if pushes and self.peer_read_only:
            if not self.config.mode.pulls:
                raise ReadOnlyError("The peer is read-only and takes no pushes.")
            # Pull on, and say once why nothing goes the other way: retrying would not help.
            pushes, self.push.idle = False, True
            self.push_refused = ReadOnlyError(
                "The peer is read-only, so changes are only pulled from it, not pushed.")
        deltas = self.config.deltas and "deltas" in self.peer_features
        agreed = self.link.conn.client_features & self.link.conn.server_features
        self.push.direct_ok, self.push.deltas = DIRECT_FEATURE in agreed, deltas
        if self.push.direct_ok and self.peer_empty:
            self.push.skip_probe()
        self.sender = RevisionSender(self.link, self.db, deltas=deltas,
                                     on_done=self.push.batch_done,
                                     on_delivered=self.push.pushed,
                                     on_outcomes=self.push.on_outcomes)
        # Without a filter every revision is accepted: None lets frames be stored in one hop.
        self.receiver = RevisionReceiver(
            self.link, self.db,
            accept=self._accept_pull if self.config.pull_filter is not None else None)
        self.set_status()
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._receive_loop, tg)
            tg.start_soon(self.sender.run)
            tg.start_soon(self._pinger)
            tg.start_soon(self._watchdog)
            tg.start_soon(self.checkpoints.run)
            if self.config.mode.pulls:
                tg.start_soon(self._pull_worker)
                tg.start_soon(self._store_worker)
            if pushes:
                tg.start_soon(self.push.run)
            if not self.config.continuous:
                await self.all_done.wait()
                tg.cancel_scope.cancel()

    async def _handshake(self) -> None:
        peer_id = self.config.peer_id or f"listsync-{self.db.uuid[:8]}"
        await self.link.send(lambda i: Hello(peer_id, self.db.uuid, FEATURES, id=i))
        hello = await self.link.receive()
        if isinstance(hello, Error):  # the only other legal answer: a fatal refusal
            if hello.code == "unavailable":
                raise NetworkError(f"The peer is not available: {hello.message}")
            raise ProtocolError(f"The peer refused the handshake: {hello.message}")
        assert isinstance(hello, Hello)
        if hello.db_uuid == self.db.uuid:
            raise ProtocolError("The peer is this same database; there is nothing to sync.")
        self.remote_uuid = self.checkpoints.remote_uuid = hello.db_uuid
        self.peer_features = set(hello.features)
        self.peer_read_only = hello.read_only
        self.peer_empty = hello.empty
        self.handshake_done = True

    # -- dispatch ------------------------------------------------------------

    async def _receive_loop(self, tg: TaskGroup) -> None:
        while True:
            msg = await self.link.receive()
            if isinstance(msg, Revs):
                self.stores_in.send_nowait(msg)
            elif isinstance(msg, Changes | CaughtUp):
                self.pulls_in.send_nowait(msg)
            else:
                await self._dispatch(tg, msg)

    async def _dispatch(self, tg: TaskGroup, msg: Message) -> None:
        if isinstance(msg, Proposed):
            await self.push.on_proposed(msg)
        elif isinstance(msg, Ack):
            await self.sender.on_ack(msg)
        elif isinstance(msg, GetBlob):
            tg.start_soon(serve_blob, self.link, self.db, msg)
        elif isinstance(msg, Ping):
            await self.link.send(Pong(msg.id))
        elif isinstance(msg, Error):
            if msg.code == "read_only":
                raise ReadOnlyError(f"The peer refused the push: {msg.message}")
            if msg.code == "unavailable":
                raise NetworkError(f"The peer is going away: {msg.message}")
            raise ProtocolError(f"The peer reported an error ({msg.code}): {msg.message}")

    async def _pinger(self) -> None:
        while True:
            await anyio.sleep(self.config.heartbeat)
            await self.link.send(lambda i: Ping(i))

    async def _watchdog(self) -> None:
        limit = self.config.heartbeat * 2.5
        self.link.last_heard = max(self.link.last_heard, anyio.current_time())
        while True:
            await anyio.sleep(self.config.heartbeat / 2)
            if anyio.current_time() - self.link.last_heard > limit:
                raise NetworkError(f"The peer has not answered for {limit:g} seconds.")

    # -- status --------------------------------------------------------------

    def set_status(self) -> None:
        idle = self.pull_idle and self.push.idle
        activity = Activity.IDLE if idle else Activity.BUSY
        self.hub.set_status(ReplicatorStatus(activity, self.done, self.total,
                                             error=self.push_refused))
        if idle:
            self.all_done.set()

    def event(self, key: DocRev, direction: Direction, deleted: bool = False,
               error: str | None = None) -> None:
        if self.hub.wanted:
            self.hub.publish(DocumentReplicated(key[0], key[1], direction, deleted, error))

    # -- pull ----------------------------------------------------------------

    async def _pull_worker(self) -> None:
        since = await self.checkpoints.load(Direction.PULL)
        ids = None if self.config.doc_ids is None else tuple(sorted(self.config.doc_ids))
        # A database that never held a document lacks everything the server has: it
        # says so, and a server with inline_bulk sends bodies from the first frame.
        fresh = since == 0 and await anyio.to_thread.run_sync(lambda: self.db.update_seq == 0)
        await self.link.send(lambda i: Subscribe(i, since, self.config.continuous, ids, fresh))
        async for msg in self.pulls:
            if isinstance(msg, Changes):
                await self._on_changes(msg)
            else:
                self.pull_caught_up = msg.seq
            await self._advance_pull()

    async def _store_worker(self) -> None:
        async for msg in self.stores:
            await self._on_revs(msg)
            await self._advance_pull()

    async def _on_changes(self, msg: Changes) -> None:
        wanted = self.config.doc_ids
        # Busy from now: the push half, woken by what this frame stores, must not report
        # the session idle before the frame is answered and its checkpoint saved.
        self.pull_idle = False
        self.diffing = True
        try:
            # Inline revisions first: the store says which it held already, so only the
            # rest of the frame (nothing, in most of a first pull) needs a revs_diff.
            got, had = await self._store_inline(msg) if msg.inline else (None, 0)
            if got is not None and wanted is None and got.covers(msg.changes):
                asked = {}  # every entry's one revision came inline (most of a first pull)
            else:
                handled = set() if got is None else got.handled
                asked = {c.doc_id: [c.rev, *c.leaves] for c in msg.changes
                         if (wanted is None or c.doc_id in wanted)
                         and (c.leaves or (c.doc_id, c.rev) not in handled)}
            diff = await run_db(self.db, len(asked) <= SMALL, self.db.revs_diff,
                                asked) if asked else {}
            # Still "diffing" until the answer is made: what the store worker finishes
            # meanwhile must not be asked for again on the strength of `diff`.
            recent: set[DocRev] = set()
            if diff:
                recent = self.stored_meanwhile | (set() if got is None else got.handled)
        finally:
            self.diffing = False
            self.stored_meanwhile = set()
        wants = []
        keys: list[DocRev] = []
        inflight, want = self.pull_inflight, trusted.want
        for doc_id, (missing, have) in diff.items():
            if len(missing) == 1:  # the common case, without a generator per document
                key = (doc_id, missing[0])
                if key in inflight or key in recent:
                    continue
                keys.append(key)
                # Unchecked: revs came in the peer's checked changes, `have` from our store.
                wants.append(want(doc_id, (missing[0],), tuple(have)))
                continue
            revs = tuple(r for r in missing if (doc_id, r) not in inflight
                         and (doc_id, r) not in recent)
            if revs:
                keys += ((doc_id, r) for r in revs)
                wants.append(want(doc_id, revs, tuple(have)))
        inflight.update(keys)
        self.total += len(keys)
        # Recorded before the answer goes out: its revs may be stored as soon as they come.
        self.pull_pending.append([msg.id, msg.last_seq, not wants])
        if wants:
            self.pull_waiting[msg.id] = set(keys)
        await self.link.send(Missing(msg.id, tuple(wants), had))
        self.pull_idle = False
        self.set_status()

    async def _store_inline(self, msg: Changes) -> tuple[InlineStored, int]:
        """Store the frame's inline revisions we lack; returns what became of them (the
        rest of the frame, if any, is asked for as usual) and how many we did not need
        (held or already coming: the server's cue to stop inlining). Stored before the
        frame is answered, so its checkpoint never runs ahead of them."""
        inflight, meanwhile = self.pull_inflight, self.stored_meanwhile
        picked = pick(msg.inline, self.config.doc_ids,
                      (lambda k: k in inflight or k in meanwhile)
                      if inflight or meanwhile else None)
        if not picked:
            return InlineStored(), len(msg.inline)
        if self.config.mode.pushes:
            self.push.echo.update(r.key for r in picked)  # noted before the push feed wakes
        got = await store_inline(self.link, self.db, picked, self.receiver.accept)
        if self.hub.wanted:
            for rev in got.stored:
                self.event((rev.doc_id, rev.rev), Direction.PULL, rev.deleted)
        for key, reason in got.failed:
            self.event(key, Direction.PULL, error=reason)
        counted = len(got.stored) + len(got.failed)
        self.total += counted
        self.done += counted
        return got, len(msg.inline) - len(picked) + len(got.held)

    async def _on_revs(self, msg: Revs) -> None:
        if self.config.mode.pushes:
            # Noted before storing: the push feed may wake as soon as they are written.
            echo = self.push.echo
            if len(echo) > 100_000:
                echo.clear()  # a bound; an echo only saves the peer a "have"
            echo.update([(r.doc_id, r.rev) for r in msg.revs])
        got = await self.receiver.handle(msg)
        stored = [(rev.doc_id, rev.rev) for rev in got.stored]
        if self.diffing:
            self.stored_meanwhile.update(stored)
        self.pull_inflight.difference_update(stored)
        if self.hub.wanted:
            for key, rev in zip(stored, got.stored, strict=True):
                self.event(key, Direction.PULL, rev.deleted)
        for key, reason in got.failed:
            self.pull_inflight.discard(key)
            self.event(key, Direction.PULL, error=reason)
            self.blocked[Direction.PULL] |= "filter" not in reason
        self.pull_inflight.difference_update(msg.gone)
        self.done += len(got.stored) + len(got.failed) + len(msg.gone)
        waiting = self.pull_waiting[msg.batch]
        waiting.difference_update([(r.doc_id, r.rev) for r in msg.revs])
        waiting.difference_update(msg.gone)
        waiting.update(got.full)  # asked again with a full body
        if not waiting:
            del self.pull_waiting[msg.batch]
            for entry in self.pull_pending:
                if entry[0] == msg.batch:
                    entry[2] = True

    async def _advance_pull(self) -> None:
        seq = None
        while self.pull_pending and self.pull_pending[0][2]:
            seq = self.pull_pending.popleft()[1]
        if not self.pull_pending and self.pull_caught_up is not None:
            seq = max(seq or 0, self.pull_caught_up)
            self.pull_caught_up = None
            self.pull_idle = True
        if seq is not None:
            self.checkpoints.save(Direction.PULL, seq)
        self.set_status()

    def _accept_pull(self, rev: Revision) -> bool:
        check = self.config.pull_filter
        return check is None or check(rev.doc_id, rev.deleted, rev.body or {})
