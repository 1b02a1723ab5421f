"""A ring of 4 peers over real websockets on loopback: each is a listener and a replicator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest

from engine.inventory import LIST_DOC_ID, adjust, legacy_item_id, normalise
from engine.listdoc import update_list
from engine.store import Database
from engine.sync.channel import MessageChannel
from engine.sync.config import ReplicatorConfig, RetryPolicy
from engine.sync.listener import Listener
from engine.sync.replicator import Connect, Replicator
from engine.sync.server_session import serve_peer
from engine.sync.wsclient import connect
from engine.sync.wsserver import ServerChannel
from tests.mesh.rig import converged, open_peer, quantities

pytestmark = pytest.mark.anyio
APPLES = legacy_item_id("Apples")


def listener_for(db: Database) -> Listener:
    async def allow(user: str, password: str, host: str) -> bool:
        return password == "secret"

    async def handler(channel: ServerChannel, _db: str) -> None:
        await serve_peer(channel, db)

    return Listener(handler, authenticate=allow, databases={"userdb"}, host="127.0.0.1")


def dialer(url: str) -> Connect:
    @asynccontextmanager
    async def dial() -> AsyncIterator[MessageChannel]:
        async with connect(url, username="kiosk", password="secret") as channel:
            yield channel
    return dial


async def test_ring_over_websockets_converges_with_every_sale(tmp_path: Path) -> None:
    n = 4
    dbs = [open_peer(tmp_path / f"p{i}") for i in range(n)]
    for db in dbs:
        db.save(LIST_DOC_ID, normalise({"type": "list", "items": [
            {"key": "Apples", "value": 100}]}), rev=None)
    config = ReplicatorConfig(continuous=True, retry=RetryPolicy(max_attempts=0,
                                                                 initial_wait=0.05))
    async with anyio.create_task_group() as tg:
        listeners = [listener_for(db) for db in dbs]
        for listener in listeners:
            await tg.start(listener.serve)
        urls = [listener.urls[0] + "userdb" for listener in listeners]
        reps = [Replicator(dbs[i], dialer(urls[(i + 1) % n]), config) for i in range(n)]
        for rep in reps:
            tg.start_soon(rep.run)
        for i, db in enumerate(dbs):
            for _ in range(3):
                update_list(db, lambda b, i=i: adjust(b, APPLES, -(i + 1), device=f"d{i}",
                                                       user="u", now=0.0))
        with anyio.fail_after(30):
            await converged(dbs)
        for rep in reps:
            await rep.stop()
        for listener in listeners:
            await listener.stop()
    assert all(quantities(db) == {APPLES: 100 - 3 * (1 + 2 + 3 + 4)} for db in dbs)
