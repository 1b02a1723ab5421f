"""Test rig for mesh tests: real stores, real sync sessions over in-process channels.

`sync_pair` runs one one-shot session (optionally cut after some frames, as a
dropped connection); `Mesh` keeps continuous replicators between peers per a
topology and can cut and heal links.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import msgpack
from anyio.abc import TaskGroup

from engine.errors import EngineError, NetworkError
from engine.inventory import LIST_DOC_ID
from engine.listdoc import list_resolver, read_list
from engine.store import Database
from engine.sync.channel import MemoryChannel, MessageChannel, memory_channel_pair
from engine.sync.config import Mode, ReplicatorConfig, RetryPolicy
from engine.sync.link import SessionStats
from engine.sync.replicator import Replicator
from engine.sync.server_session import serve_peer
from tests.sync.peers import ChannelWrapper

ONE_TRY = RetryPolicy(max_attempts=1)


def open_peer(path: Path) -> Database:
    db = Database.open(path)
    db.resolver = list_resolver
    return db


class CutChannel(ChannelWrapper):
    """A channel end that fails (as a lost connection) after `frames` frames either way."""

    def __init__(self, inner: MemoryChannel, frames: int) -> None:
        super().__init__(inner)
        self.left = frames

    async def _tick(self) -> None:
        self.left -= 1
        if self.left < 0:
            await self.inner.close(1006, "cut")
            raise NetworkError("The connection was cut.")

    async def send(self, frame: bytes) -> None:
        await self._tick()
        await self.inner.send(frame)

    async def receive(self) -> bytes:
        await self._tick()
        return await self.inner.receive()


class RecordingChannel(CutChannel):
    """A channel end that notes each frame it moves as (direction, kind, bytes)."""

    def __init__(self, inner: MemoryChannel, frames: list[tuple[str, str, int]]) -> None:
        super().__init__(inner, 1 << 60)
        self.frames = frames

    async def send(self, frame: bytes) -> None:
        self.frames.append(("sent", _kind(frame), len(frame)))
        await self.inner.send(frame)

    async def receive(self) -> bytes:
        frame = await self.inner.receive()
        self.frames.append(("received", _kind(frame), len(frame)))
        return frame


def _kind(frame: bytes) -> str:
    return str(msgpack.unpackb(frame, raw=False, strict_map_key=False).get("t"))


@dataclass
class Session:
    """What one session moved: the client's and the server's counters."""

    client: SessionStats = field(default_factory=lambda: SessionStats(track_keys=True))
    server: SessionStats = field(default_factory=lambda: SessionStats(track_keys=True))
    error: EngineError | None = None


async def sync_pair(client_db: Database, server_db: Database, *, mode: Mode = Mode.PUSH_AND_PULL,
                    cut_after: int | None = None, deltas: bool = True,
                    frames: list[tuple[str, str, int]] | None = None) -> Session:
    """One one-shot session `client_db` -> `server_db`; a cut one records its error;
    `frames` (if given) gets every frame the client end moved."""
    out = Session()
    async with anyio.create_task_group() as tg:
        client, server = memory_channel_pair()

        @asynccontextmanager
        async def connect() -> AsyncIterator[MessageChannel]:
            end: MessageChannel = client if cut_after is None else CutChannel(client, cut_after)
            if frames is not None:
                end = RecordingChannel(client, frames)
            try:
                yield end
            finally:
                await client.close()

        tg.start_soon(_serve, server, server_db, out, deltas)
        rep = Replicator(client_db, connect, ReplicatorConfig(mode=mode, retry=ONE_TRY))
        rep.track_keys = True
        try:
            with anyio.fail_after(60):
                await rep.run()
        except NetworkError as err:
            out.error = err
        finally:
            await client.close()
            if rep.last_stats is not None:
                out.client = rep.last_stats
    return out


async def _serve(channel: MessageChannel, db: Database, out: Session, deltas: bool) -> None:
    try:
        await serve_peer(channel, db, stats=out.server, deltas=deltas)
    except EngineError as err:
        out.error = out.error or err


def tree_map(db: Database) -> dict[str, Any]:
    """Every document's winner, body and leaves with their histories: the revision trees
    as far as anyone can observe them."""
    out: dict[str, Any] = {}
    for doc in db.all_docs(include_deleted=True):
        leaves = []
        for leaf in db.leaves(doc.id):
            rev = db.get_rev(doc.id, leaf)
            assert rev is not None
            leaves.append((leaf, tuple(rev.history)))
        out[doc.id] = (doc.rev, doc.deleted, doc.body, sorted(leaves))
    return out


def quantities(db: Database) -> dict[str, int]:
    """Item id -> quantity in the merged list."""
    return {item["id"]: item["value"] for item in read_list(db)["items"]}


class Mesh:
    """Peers with continuous replicators along `links` (client index, server index)."""

    def __init__(self, dbs: list[Database], tg: TaskGroup, *, deltas: bool = True) -> None:
        self.dbs = dbs
        self.tg = tg
        self.deltas = deltas
        self.links: dict[tuple[int, int], tuple[Replicator, anyio.CancelScope]] = {}
        self.server_stats: dict[tuple[int, int], list[SessionStats]] = {}
        self.client_stats: dict[tuple[int, int], list[SessionStats]] = {}
        self.errors: list[EngineError] = []

    def connector(self, link: tuple[int, int]) -> Any:
        server_db = self.dbs[link[1]]

        @asynccontextmanager
        async def connect() -> AsyncIterator[MessageChannel]:
            client, server = memory_channel_pair()
            stats = SessionStats(track_keys=True)
            self.server_stats.setdefault(link, []).append(stats)
            self.tg.start_soon(self._serve, server, server_db, stats)
            try:
                yield client
            finally:
                await client.close()

        return connect

    async def _serve(self, channel: MessageChannel, db: Database, stats: SessionStats) -> None:
        try:
            await serve_peer(channel, db, stats=stats, deltas=self.deltas)
        except EngineError as err:
            self.errors.append(err)

    async def connect(self, client: int, server: int) -> Replicator:
        link = (client, server)
        retry = RetryPolicy(max_attempts=0, initial_wait=0.05)
        rep = Replicator(self.dbs[client], self.connector(link),
                         ReplicatorConfig(continuous=True, retry=retry, deltas=self.deltas))
        rep.track_keys = True
        scope = anyio.CancelScope()
        self.links[link] = (rep, scope)
        started = anyio.Event()

        async def run() -> None:
            with scope:
                started.set()
                await rep.run()

        self.tg.start_soon(run)
        await started.wait()
        return rep

    async def disconnect(self, client: int, server: int) -> None:
        rep, scope = self.links.pop((client, server))
        if rep.last_stats is not None:
            self.client_stats.setdefault((client, server), []).append(rep.last_stats)
        scope.cancel()
        await anyio.lowlevel.checkpoint()

    async def stop(self) -> None:
        for link in list(self.links):
            await self.disconnect(*link)

    def all_client_stats(self) -> dict[tuple[int, int], list[SessionStats]]:
        out = {k: list(v) for k, v in self.client_stats.items()}
        for link, (rep, _) in self.links.items():
            if rep.last_stats is not None:
                out.setdefault(link, []).append(rep.last_stats)
        return out


async def converged(dbs: list[Database]) -> None:
    """Wait until every database shows the same trees and no conflict, re-checking
    whenever any of them changes (the caller bounds the wait with fail_after)."""
    changed = anyio.Event()

    async def watch(db: Database) -> None:
        nonlocal changed
        async for _ in db.subscribe(db.update_seq):
            changed.set()

    async with anyio.create_task_group() as tg:
        for db in dbs:
            tg.start_soon(watch, db)
        while True:
            changed = anyio.Event()
            maps = [tree_map(db) for db in dbs]
            if all(m == maps[0] for m in maps) and not any(
                    db.conflicts(LIST_DOC_ID) for db in dbs):
                tg.cancel_scope.cancel()
                return
            await changed.wait()
