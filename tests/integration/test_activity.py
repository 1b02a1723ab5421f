"""The listener's active (busy) connection count follows transfers, not connections."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.store import Database
from engine.sync.listener import Listener
from engine.sync.listenerstatus import ClientActivityChanged, EventStream
from engine.sync.status import Activity
from tests.integration.rig import make_peer, serving, wait_activity, wait_for

pytestmark = pytest.mark.anyio


@contextmanager
def stalled_writes(db: Database) -> Iterator[tuple[threading.Event, threading.Event]]:
    """Make `db.put_revisions` wait (in its worker thread) until released."""
    entered, release = threading.Event(), threading.Event()
    original: Callable[..., Any] = db.put_revisions

    def stalled(*args: Any, **kw: Any) -> Any:
        entered.set()
        release.wait(20)
        return original(*args, **kw)

    db.put_revisions = stalled  # type: ignore[method-assign]
    try:
        yield entered, release
    finally:
        release.set()
        db.put_revisions = original  # type: ignore[method-assign]


async def _busy_flags(events: EventStream, until_idle_after_busy: bool = True) -> list[bool]:
    flags: list[bool] = []
    with anyio.fail_after(15):
        async for event in events:
            if isinstance(event, ClientActivityChanged):
                flags.append(event.connection.busy)
                if until_idle_after_busy and flags[-1] is False and True in flags:
                    return flags
    return flags


def _counts(listener: Listener) -> tuple[int, int]:
    return listener.connection_count, listener.active_count


@pytest.mark.parametrize("direction", ["pull", "push"])
async def test_a_connection_is_busy_only_while_revisions_move(tmp_path: Path,
                                                               direction: str) -> None:
    server = make_peer(tmp_path, "server")
    local = Database.open(tmp_path / "client")
    async with serving(server) as tg:
        listener = server.listener
        assert listener is not None
        rep = server.replicator(local, continuous=True)
        with rep.events() as status:
            tg.start_soon(rep.run)
            await wait_activity(status, Activity.IDLE)
            assert _counts(listener) == (1, 0)  # connected and caught up: not busy

            writer, receiver = (server.db, local) if direction == "pull" else (local, server.db)
            with listener.events() as events, stalled_writes(receiver) as (entered, release):
                writer.save("new", {"v": 1}, rev=None)
                assert await anyio.to_thread.run_sync(entered.wait, 10)
                assert _counts(listener) == (1, 1)  # revisions sent, not yet stored and acked
                release.set()
                await wait_for(receiver, lambda: receiver.get("new") is not None)
                flags = await _busy_flags(events)
            assert flags[0] is True and flags[-1] is False
            assert _counts(listener) == (1, 0)
            assert listener.status.active_count == 0
            await rep.stop()
