"""The active peer: `Replicator` keeps one database in sync with one remote peer.

`run()` connects (via the `connect` factory), replicates, and on transient
failures (network, timeouts, a silent peer) retries with exponential backoff
and jitter; refusals (auth, TLS, read-only, protocol) stop it at once and are
raised. Status and per-document events flow out through `events()`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from engine.errors import EngineError, NetworkError, UsageError
from engine.store.database import Database
from engine.sync import gcpolicy
from engine.sync.channel import MessageChannel
from engine.sync.checkpoints import checkpoint_id
from engine.sync.client_session import ClientSession
from engine.sync.config import ReplicatorConfig
from engine.sync.link import SessionStats, one_error
from engine.sync.stall import StallClock
from engine.sync.status import (
    Activity,
    Direction,
    EventHub,
    ReplicatorEvent,
    ReplicatorStatus,
)

Connect = Callable[[], AbstractAsyncContextManager[MessageChannel]]


class Replicator:
    """Replicates `db` with the peer that `connect()` reaches, per `config`."""

    def __init__(self, db: Database, connect: Connect,
                 config: ReplicatorConfig | None = None) -> None:
        self.db = db
        self.connect = connect
        self.config = config or ReplicatorConfig()
        self.remote_uuid: str | None = None  # learned at the first handshake
        self.last_stats: SessionStats | None = None  # counters of the latest connection
        self.track_keys = False  # tests: record every revision sent per connection
        self._hub = EventHub()
        self._scope: anyio.CancelScope | None = None
        self._last_session: ClientSession | None = None  # of the current attempt

    @property
    def status(self) -> ReplicatorStatus:
        return self._hub.status

    def events(self, buffer: int = 1000) -> MemoryObjectReceiveStream[ReplicatorEvent]:
        """A new stream of status changes and document events (current status first)."""
        return self._hub.listen(buffer)

    async def run(self) -> None:
        """Replicate until done (one-shot), stopped, or failed for good (raises)."""
        if self._scope is not None:
            raise UsageError("This replicator is already running.")
        gcpolicy.relax()
        clock = StallClock(self.config.heartbeat)
        failure: Exception | None = None
        with anyio.CancelScope() as self._scope:
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(clock.run)
                    try:
                        await self._attempts(clock)
                    except Exception as err:
                        failure = err  # raised below, outside the group, so not wrapped
                    finally:
                        tg.cancel_scope.cancel()
            finally:
                self._scope = None
                if self.status.activity is not Activity.STOPPED:
                    self._set(Activity.STOPPED)
                self._hub.close()  # listeners' streams end with the run
        if failure is not None:
            raise failure

    async def _attempts(self, clock: StallClock) -> None:
        attempt = 0
        while True:
            self._set(Activity.CONNECTING)
            session: ClientSession | None = None
            self._last_session = None
            started = anyio.current_time()
            try:
                session = await self._attempt()
                if not self.config.continuous:
                    self._set(Activity.STOPPED, done=session, error=session.push_refused)
                    return
                raise NetworkError("The peer closed the connection.")
            except (NetworkError, TimeoutError, OSError) as err:
                failure = _as_engine_error(err)
                attempt = _next_attempt(attempt, session or self._last_session,
                                        stalled=clock.stalled_since(started))
                limit = self.config.retry.max_attempts
                if limit and attempt >= limit:
                    self._set(Activity.STOPPED, error=failure)
                    if failure is err:
                        raise  # `raise err from err` would make its cause itself
                    raise failure from err
                self._set(Activity.OFFLINE, error=failure)
                await anyio.sleep(self.config.retry.wait(attempt))
            except EngineError as err:
                self._set(Activity.STOPPED, error=err)
                raise

    async def stop(self) -> None:
        """Stop a running replicator; `run()` then returns normally."""
        if self._scope is not None:
            self._scope.cancel()
        await anyio.lowlevel.checkpoint()

    async def _attempt(self) -> ClientSession:
        stats = SessionStats(track_keys=self.track_keys)
        self.last_stats = stats
        with one_error():
            async with AsyncExitStack() as stack:
                # No fail_after around this: the connect() context keeps a task group
                # open past the handshake, so a cancel scope here would be exited out of
                # order. The connector enforces its own connect timeout.
                channel = await stack.enter_async_context(self.connect())
                session = ClientSession(channel, self.db, self.config, self._hub, stats)
                self._last_session = session
                try:
                    await session.run()
                finally:
                    if session.remote_uuid:
                        self.remote_uuid = session.remote_uuid
        return session

    def _set(self, activity: Activity, *, error: EngineError | None = None,
             done: ClientSession | None = None) -> None:
        last = self._hub.status
        counts = (done.done, done.total) if done is not None else (last.done, last.total)
        self._hub.set_status(ReplicatorStatus(activity, *counts, error=error))

    async def pending_document_ids(self) -> set[str]:
        """Ids of local documents changed since the last push checkpoint (not yet pushed)."""
        return await anyio.to_thread.run_sync(self._pending)

    def _pending(self) -> set[str]:
        since = 0
        if self.remote_uuid is not None:
            body = self.db.get_local(checkpoint_id(self.remote_uuid, Direction.PUSH))
            seq = body.get("seq") if isinstance(body, dict) else None
            since = seq if type(seq) is int else 0
        wanted, check = self.config.doc_ids, self.config.push_filter
        out = set()
        for c in self.db.changes(since):
            if wanted is not None and c.doc_id not in wanted:
                continue
            doc = self.db.get(c.doc_id) if check is not None else None
            if check is None or (doc is not None and check(doc.id, doc.deleted, doc.body)):
                out.add(c.doc_id)
        return out


def _next_attempt(attempt: int, last: ClientSession | None, *, stalled: bool) -> int:
    """The backoff step after a failed attempt (`last`: its session, if it got one)."""
    if last is not None and last.handshake_done:
        # A session that got through the handshake resets the backoff, even when it
        # ended in an error (the caller passes a session set only on a clean end).
        return 1
    if stalled:
        # This process was frozen during the attempt (SIGSTOP, suspend): the peer may
        # well have dropped us for our silence. Our failure, not the peer's: not counted.
        return attempt
    return attempt + 1


def _as_engine_error(err: Exception) -> EngineError:
    if isinstance(err, EngineError):
        return err
    if isinstance(err, TimeoutError):
        return NetworkError("The peer did not answer in time.")
    return NetworkError(f"The connection failed ({err}).")
