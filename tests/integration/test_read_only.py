"""A read-only listener and a push-and-pull replicator: the pull goes on, and the push
is reported once, in one sentence, instead of ending the sync or being retried."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from engine.errors import ReadOnlyError
from engine.store import Database
from engine.sync.config import Mode
from engine.sync.replicator import Replicator
from engine.sync.status import Activity, ReplicatorStatus
from tests.integration.rig import USER, fill, make_peer, serving, sync_once, wait_for

pytestmark = pytest.mark.anyio


def _ids(db: Database, prefix: str) -> set[str]:
    return {d.id for d in db.all_docs() if d.id.startswith(prefix)}


async def test_a_one_shot_sync_pulls_from_a_read_only_peer_and_says_it_did_not_push(
        tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server", read_only=True)
    local = Database.open(tmp_path / "client")
    fill(server.db, 5, "theirs")
    fill(local, 3, "mine")
    async with serving(server):
        rep = await sync_once(server.replicator(local))
    assert _ids(local, "theirs") == _ids(server.db, "theirs") and len(_ids(local, "theirs")) == 5
    assert _ids(server.db, "mine") == set()
    assert rep.status.activity is Activity.STOPPED
    assert isinstance(rep.status.error, ReadOnlyError)
    assert str(rep.status.error) == (
        "The peer is read-only, so changes are only pulled from it, not pushed.")
    assert server.auth.attempts == [(USER, True)]  # one connection, no retry


async def test_a_continuous_sync_keeps_pulling_from_a_read_only_peer(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server", read_only=True)
    local = Database.open(tmp_path / "client")
    local.save("mine", {"v": 1}, rev=None)
    async with serving(server) as tg:
        rep = server.replicator(local, continuous=True)
        tg.start_soon(rep.run)
        server.db.save("first", {"v": 1}, rev=None)
        await wait_for(local, lambda: local.get("first") is not None)
        server.db.save("later", {"v": 2}, rev=None)  # the pull is still live
        await wait_for(local, lambda: local.get("later") is not None)
        local.save("mine-too", {"v": 2}, rev=None)  # and the push still refrains
        status = await _idle_with_error(rep)
        await rep.stop()
    assert isinstance(status.error, ReadOnlyError)
    assert server.db.get("mine") is None and server.db.get("mine-too") is None
    assert server.auth.attempts == [(USER, True)]  # never reconnected


async def test_a_push_only_sync_to_a_read_only_peer_stops_at_once(tmp_path: Path) -> None:
    server = make_peer(tmp_path, "server", read_only=True)
    local = Database.open(tmp_path / "client")
    fill(local, 3, "mine")
    async with serving(server):
        rep = server.replicator(local, mode=Mode.PUSH, continuous=True)
        with anyio.fail_after(15), pytest.raises(ReadOnlyError, match="read-only"):
            await rep.run()
    assert _ids(server.db, "mine") == set()
    assert server.auth.attempts == [(USER, True)]


async def _idle_with_error(rep: Replicator) -> ReplicatorStatus:
    with anyio.fail_after(15):
        async with rep.events() as events:
            async for event in events:
                if (isinstance(event, ReplicatorStatus) and event.activity is Activity.IDLE
                        and event.error is not None):
                    return event
    raise AssertionError("the replicator stopped")
