"""A frozen peer (SIGSTOP past the heartbeat) is noticed within about two heartbeats,
the sync reconnects when it thaws, and file descriptors and tasks do not pile up.

CI runs 12 cycles of a frozen replicator (it used to back off past any wait after
about 7 of them) and 6 of a frozen listener; LISTSYNC_LONG=1 runs 100 of each.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from engine.store import Database
from engine.sync.channel import MessageChannel
from engine.sync.config import RetryPolicy
from engine.sync.listenerstatus import ClientConnected, ClientDisconnected, EventStream
from engine.sync.status import Activity
from tests.faults.rig import (
    LONG,
    connector,
    db_dir,
    offline,
    open_fds,
    poll,
    replicator,
    serving,
    start_serve,
    start_sync,
    wait_activity,
)

pytestmark = pytest.mark.anyio
FROZEN_REPLICATOR_CYCLES = 100 if LONG else 12
FROZEN_LISTENER_CYCLES = 100 if LONG else 6
HEARTBEAT = 0.5
# Two heartbeats of silence, counted from the last byte heard (so at most 2 from the
# freeze), plus tearing the session down and scheduling slack on a busy 2-core box
# (1.11 s seen at load average 11).
NOTICE_LIMIT = 2 * HEARTBEAT + 0.25


def _vitals(peer: subprocess.Popen[str]) -> tuple[int, int, int]:
    """Our open fds and tasks, and the frozen-and-thawed peer process's open fds."""
    return open_fds(os.getpid()), len(asyncio.all_tasks()), open_fds(peer.pid)


def _no_growth(baseline: tuple[int, ...] | None, final: tuple[int, ...]) -> bool:
    return baseline is not None and all(f <= b + 2 for b, f in zip(baseline, final, strict=True))


def _reap(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        proc.wait()
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


async def test_replicator_notices_a_frozen_listener_and_reconnects(tmp_path: Path) -> None:
    serve, port = start_serve(tmp_path / "remote", heartbeat=HEARTBEAT)
    noticed: list[float] = []
    try:
        with Database.open(tmp_path / "local") as local, \
                Database.open(db_dir(tmp_path / "remote")) as remote:
            rep = replicator(local, connector(port, heartbeat=HEARTBEAT), continuous=True,
                             heartbeat=HEARTBEAT)
            async with anyio.create_task_group() as tg:
                tg.start_soon(rep.run)
                await wait_activity(rep, lambda s: s.activity is Activity.IDLE)
                baseline: tuple[int, int, int] | None = None
                for cycle in range(FROZEN_LISTENER_CYCLES):
                    os.kill(serve.pid, signal.SIGSTOP)
                    frozen_at = anyio.current_time()
                    await wait_activity(rep, offline, within=10 * HEARTBEAT)
                    noticed.append(anyio.current_time() - frozen_at)
                    os.kill(serve.pid, signal.SIGCONT)
                    local.save(f"after-thaw-{cycle}", {"cycle": cycle}, rev=None)
                    await poll(lambda c=cycle: remote.get(f"after-thaw-{c}") is not None, 15)
                    if baseline is None:
                        baseline = _vitals(serve)
                final = _vitals(serve)
                await rep.stop()
    finally:
        _reap(serve)
    assert max(noticed) <= NOTICE_LIMIT, noticed
    assert _no_growth(baseline, final), (baseline, final)
    print(f"frozen listener noticed after {min(noticed):.2f}-{max(noticed):.2f} s "
          f"(heartbeat {HEARTBEAT} s) over {FROZEN_LISTENER_CYCLES} cycles; "
          f"fds/tasks/peer fds {baseline} -> {final}")


async def test_listener_notices_a_frozen_replicator_and_takes_it_back(tmp_path: Path) -> None:
    noticed: list[float] = []
    with Database.open(tmp_path / "here") as here:
        async with serving(here, tmp_path, heartbeat=HEARTBEAT) as listener:
            events = listener.events()
            log = tmp_path / "sync.log"
            sync = start_sync(tmp_path / "remote", listener.port or 0, "--continuous",
                              "--heartbeat", str(HEARTBEAT), log=log)
            try:
                with anyio.fail_after(30):
                    await _next(events, ClientConnected)
                baseline: tuple[int, int, int] | None = None
                for _ in range(FROZEN_REPLICATOR_CYCLES):
                    os.kill(sync.pid, signal.SIGSTOP)
                    frozen_at = anyio.current_time()
                    with anyio.fail_after(10 * HEARTBEAT):
                        await _next(events, ClientDisconnected)
                    noticed.append(anyio.current_time() - frozen_at)
                    os.kill(sync.pid, signal.SIGCONT)
                    try:
                        with anyio.fail_after(30):
                            await _next(events, ClientConnected)
                    except TimeoutError:
                        raise AssertionError(
                            f"no reconnect in 30 s (cycle {len(noticed)}); the sync process "
                            f"said:\n{log.read_text()[-3000:]}") from None
                    if baseline is None:
                        baseline = _vitals(sync)
                final = _vitals(sync)
            finally:
                events.close()
                _reap(sync)
    assert max(noticed) <= NOTICE_LIMIT, noticed
    assert _no_growth(baseline, final), (baseline, final)
    print(f"frozen replicator noticed after {min(noticed):.2f}-{max(noticed):.2f} s "
          f"(heartbeat {HEARTBEAT} s) over {FROZEN_REPLICATOR_CYCLES} cycles; "
          f"fds/tasks/peer fds {baseline} -> {final}")


FREEZES = 12  # with each one counted as the peer's failure, the 12th retry waited 102 s


async def test_a_replicator_frozen_before_its_hello_retries_without_backing_off(
        tmp_path: Path) -> None:
    """Frozen right after each websocket upgrade, before the hello, until the listener
    drops it for silence: those losses are ours, and must not grow the backoff."""
    no_cap = RetryPolicy(max_attempts=0, initial_wait=0.05, max_wait=600.0, jitter=0.0)
    freezes: list[bool] = []
    with Database.open(tmp_path / "here") as here, Database.open(tmp_path / "local") as local, \
            _ThreadedListener(here, tmp_path, heartbeat=0.1) as listener:
        plain = connector(listener.port, heartbeat=0.1)

        @asynccontextmanager
        async def connect_then_freeze() -> AsyncIterator[MessageChannel]:
            async with plain() as channel:
                if len(freezes) < FREEZES:
                    freezes.append(_freeze_until(listener.dropped))
                yield channel

        local.save("made-while-freezing", {"n": 1}, rev=None)
        rep = replicator(local, connect_then_freeze, continuous=True, heartbeat=0.1,
                         retry=no_cap)
        async with anyio.create_task_group() as tg:
            tg.start_soon(rep.run)
            try:
                # A deadline, not a timing claim: backing off 0.05 s * 2**n takes 205 s.
                await wait_activity(
                    rep, lambda s: len(freezes) == FREEZES and s.activity is Activity.IDLE, 30)
            except TimeoutError:
                raise AssertionError(f"still retrying after {len(freezes)} of {FREEZES} "
                                     "freezes: each one grew the backoff") from None
            finally:
                await rep.stop()
        assert all(freezes), f"the listener did not drop us in freezes {freezes}"
        assert here.get("made-while-freezing") is not None


def _freeze_until(dropped: queue.Queue[None]) -> bool:
    """Block this event loop, so this process is frozen as far as the network can tell,
    until the listener (on its own loop) has dropped the connection; False: it never did."""
    try:
        dropped.get(timeout=10)
    except queue.Empty:
        return False
    return True


class _ThreadedListener:
    """A real listener on its own event loop in a thread: it keeps running while this
    test's loop is blocked, and reports each dropped client on `dropped`."""

    def __init__(self, db: Database, data_dir: Path, *, heartbeat: float) -> None:
        self.db, self.data_dir, self.heartbeat = db, data_dir, heartbeat
        self.port = 0
        self.dropped: queue.Queue[None] = queue.Queue()
        self._ready, self._stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=anyio.run, args=(self._main,), daemon=True)

    def __enter__(self) -> _ThreadedListener:
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError("the listener thread did not start")
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _main(self) -> None:
        async with serving(self.db, self.data_dir, heartbeat=self.heartbeat) as listener:
            self.port = listener.port or 0
            with listener.events() as events:
                self._ready.set()
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._forward, events)
                    await anyio.to_thread.run_sync(self._stop.wait)
                    tg.cancel_scope.cancel()

    async def _forward(self, events: EventStream) -> None:
        async for event in events:
            if isinstance(event, ClientDisconnected):
                self.dropped.put(None)


async def _next(events: object, kind: type) -> object:
    async for event in events:  # type: ignore[attr-defined]
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__}")
