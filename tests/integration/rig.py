"""Rig for integration tests: real listeners and replicators on 127.0.0.1.

A `Peer` is one database plus a Listener made by `make_listener`; replicators
reach it through `make_connector`, so every byte crosses a real socket.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import anyio
from anyio.abc import TaskGroup

from engine.peer import ListenOptions, make_connector, make_listener
from engine.store import Database
from engine.sync.auth import Allowlist, Authenticator, UserEntry
from engine.sync.config import ReplicatorConfig, RetryPolicy
from engine.sync.listener import Listener
from engine.sync.replicator import Replicator
from engine.sync.status import Activity, ReplicatorEvent
from tests.transport.support import USERS

DB = "userdb"
USER, PASSWORD = "alice", USERS["alice"]
FAST_RETRY = RetryPolicy(max_attempts=0, initial_wait=0.05, max_wait=0.3)


class CountingAuth(Authenticator):
    """The allowlist check of a real listener, counting every login attempt."""

    def __init__(self) -> None:
        super().__init__(Allowlist([UserEntry(name, password=pw) for name, pw in USERS.items()]))
        self.attempts: list[tuple[str, bool]] = []

    async def authenticate(self, user: str, password: str, address: str) -> bool:
        ok = await super().authenticate(user, password, address)
        self.attempts.append((user, ok))
        return ok


@dataclass
class Peer:
    """A database served by a real listener on 127.0.0.1."""

    db: Database
    data_dir: Path
    options: ListenOptions
    auth: CountingAuth = field(default_factory=CountingAuth)
    listener: Listener | None = None

    @property
    def url(self) -> str:
        assert self.listener is not None and self.listener.urls, "the listener is not running"
        return self.listener.urls[0] + DB

    async def start(self, tg: TaskGroup, port: int | None = None) -> None:
        """Listen (again); `port` reuses a port an earlier run had."""
        options = self.options if port is None else ListenOptions(
            host="127.0.0.1", port=port, heartbeat=self.options.heartbeat,
            max_frame=self.options.max_frame, read_only=self.options.read_only)
        self.listener = make_listener(self.db, DB, data_dir=self.data_dir, ssl_context=None,
                                      options=options, authenticate=self.auth)
        await tg.start(self.listener.serve)

    async def stop(self) -> None:
        if self.listener is not None:
            with anyio.fail_after(10):
                await self.listener.stop()

    def replicator(self, db: Database, *, password: str = PASSWORD, heartbeat: float = 15.0,
                   url: str | None = None, **config: Any) -> Replicator:
        """A replicator that syncs `db` with this peer (as alice unless told; `url`: via)."""
        connect = make_connector(url or self.url, username=USER, password=password, tls=None,
                                 heartbeat=heartbeat, connect_timeout=5)
        config.setdefault("retry", FAST_RETRY if config.get("continuous") else RetryPolicy(
            max_attempts=2, initial_wait=0.05, max_wait=0.1))
        rep = Replicator(db, connect, ReplicatorConfig(heartbeat=heartbeat, **config))
        rep.track_keys = True
        return rep


def make_peer(tmp_path: Path, name: str, **options: Any) -> Peer:
    options.setdefault("heartbeat", 15.0)
    return Peer(Database.open(tmp_path / name / DB), tmp_path / name,
                ListenOptions(host="127.0.0.1", **options))


@asynccontextmanager
async def serving(*peers: Peer) -> AsyncIterator[TaskGroup]:
    """Run the peers' listeners for the block; stop them (bounded) at its end."""
    async with anyio.create_task_group() as tg:
        for peer in peers:
            await peer.start(tg)
        try:
            yield tg
        finally:
            for peer in peers:
                await peer.stop()
            tg.cancel_scope.cancel()


async def sync_once(rep: Replicator, seconds: float = 30) -> Replicator:
    with anyio.fail_after(seconds):
        await rep.run()
    return rep


def fill(db: Database, n: int, prefix: str = "doc") -> None:
    for i in range(n):
        db.save(f"{prefix}-{i:04d}", {"name": f"{prefix} {i}", "value": i}, rev=None)


def doc_map(db: Database) -> dict[str, Any]:
    """Every document's winner and leaves, for comparing databases."""
    return {d.id: (d.rev, d.deleted, d.body, sorted(db.leaves(d.id)))
            for d in db.all_docs(include_deleted=True)}


async def wait_for(db: Database, check: Callable[[], bool], seconds: float = 15) -> None:
    """Wait until `check()` holds, re-checking whenever `db`'s change feed moves."""
    with anyio.fail_after(seconds):
        if check():
            return
        async with aclosing(cast(AsyncGenerator[int, None], db.subscribe(0))) as updates:
            async for _ in updates:
                if check():
                    return


async def wait_all(dbs: list[Database], check: Callable[[], bool], seconds: float = 20) -> None:
    """Wait until `check()` holds, re-checking whenever any of the databases changes."""
    send, receive = anyio.create_memory_object_stream[int](100)

    async def watch(db: Database) -> None:
        async with aclosing(cast(AsyncGenerator[int, None], db.subscribe(0))) as updates:
            async for seq in updates:
                await send.send(seq)

    with anyio.fail_after(seconds):
        async with anyio.create_task_group() as tg, send, receive:
            for db in dbs:
                tg.start_soon(watch, db)
            while not check():
                await receive.receive()
            tg.cancel_scope.cancel()


async def wait_activity(events: AsyncIterator[ReplicatorEvent], activity: Activity,
                        seconds: float = 15) -> ReplicatorEvent:
    """The next status event with this activity."""
    with anyio.fail_after(seconds):
        async for event in events:
            if getattr(event, "activity", None) is activity:
                return event
    raise AssertionError(f"the replicator stopped before it was {activity.value}")
