"""Test rig: in-process passive peers over memory channels, and database helpers."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, aclosing, asynccontextmanager
from pathlib import Path
from typing import Any, cast

import anyio
from anyio.abc import TaskGroup

from engine.errors import EngineError
from engine.store import Database
from engine.sync.channel import MessageChannel, memory_channel_pair
from engine.sync.config import ReplicatorConfig
from engine.sync.link import SessionStats
from engine.sync.replicator import Replicator
from engine.sync.server_session import serve_peer
from engine.sync.status import Activity, ReplicatorStatus


class ChannelWrapper:
    """A channel end passing everything to `inner`; tests override send/receive to
    watch or disturb the frames."""

    def __init__(self, inner: MessageChannel) -> None:
        self.inner = inner

    @property
    def peer_address(self) -> str:
        return self.inner.peer_address

    @property
    def user(self) -> str | None:
        return self.inner.user

    async def send(self, frame: bytes) -> None:
        await self.inner.send(frame)

    async def receive(self) -> bytes:
        return await self.inner.receive()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.inner.close(code, reason)


class MemoryPeer:
    """A passive peer: every `connect()` opens a channel that `serve_peer` answers."""

    def __init__(self, db: Database, tg: TaskGroup, **serve: Any) -> None:
        self.db = db
        self.tg = tg
        self.serve = serve
        self.errors: list[EngineError] = []
        self.sessions: list[SessionStats] = []
        self.max_frame = serve.pop("max_frame", 4 * 1024 * 1024)

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[MessageChannel]:
        client, server = memory_channel_pair(max_frame=self.max_frame)
        stats = SessionStats(track_keys=True)
        self.sessions.append(stats)
        self.tg.start_soon(self._serve, server, stats)
        try:
            yield client
        finally:
            await client.close()

    async def _serve(self, channel: MessageChannel, stats: SessionStats) -> None:
        try:
            await serve_peer(channel, self.db, stats=stats, **self.serve)
        except EngineError as err:
            self.errors.append(err)


class ScriptedPeer:
    """A hand-written passive peer: `script(channel)` runs for every connection."""

    def __init__(self, tg: TaskGroup,
                 script: Callable[[MessageChannel], Awaitable[None]]) -> None:
        self.tg = tg
        self.script = script

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[MessageChannel]:
        client, server = memory_channel_pair()
        self.tg.start_soon(self._run, server)
        try:
            yield client
        finally:
            await client.close()

    async def _run(self, channel: MessageChannel) -> None:
        try:
            await self.script(channel)
        finally:
            await channel.close()


def open_db(tmp_path: Path, name: str) -> Database:
    return Database.open(tmp_path / name)


def doc_map(db: Database) -> dict[str, Any]:
    """Every document's winner and leaves, for comparing two databases."""
    return {d.id: (d.rev, d.deleted, d.body, sorted(db.leaves(d.id)))
            for d in db.all_docs(include_deleted=True)}


def replicator(db: Database, peer: MemoryPeer | Callable[[], AbstractAsyncContextManager[
        MessageChannel]], **config: Any) -> Replicator:
    connect = peer.connect if isinstance(peer, MemoryPeer) else peer
    rep = Replicator(db, connect, ReplicatorConfig(**config))
    rep.track_keys = True
    return rep


async def sync_once(db: Database, peer: MemoryPeer, **config: Any) -> Replicator:
    rep = replicator(db, peer, **config)
    with anyio.fail_after(30):
        await rep.run()
    return rep


async def wait_status(rep: Replicator, activity: Activity) -> None:
    """Wait (at most 10 s) for the replicator to report `activity`."""
    with anyio.fail_after(10):
        async with rep.events() as events:
            async for event in events:
                if isinstance(event, ReplicatorStatus) and event.activity is activity:
                    return


async def wait_for(db: Database, check: Callable[[], bool]) -> None:
    """Wait (at most 10 s) until `check()` holds, re-checking whenever `db` changes."""
    with anyio.fail_after(10):
        async with aclosing(cast(AsyncGenerator[int, None], db.subscribe(0))) as updates:
            async for _ in updates:
                if check():
                    return
