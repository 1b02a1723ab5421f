"""A frozen peer (SIGSTOP past the heartbeat) is noticed within about two heartbeats,
the sync reconnects when it thaws, and file descriptors and tasks do not pile up.

CI runs 5 freeze cycles each way; LISTSYNC_LONG=1 runs 100.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import anyio
import pytest

from engine.store import Database
from engine.sync.listenerstatus import ClientConnected, ClientDisconnected
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
CYCLES = 100 if LONG else 5
HEARTBEAT = 0.5
# Two heartbeats of silence, counted from the last byte heard (so at most 2 from the
# freeze), plus tearing the session down and scheduling slack on a busy 2-core box
# (1.11 s seen at load average 11).
NOTICE_LIMIT = 2 * HEARTBEAT + 0.25


def _vitals() -> tuple[int, int]:
    return open_fds(os.getpid()), len(asyncio.all_tasks())


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
                baseline: tuple[int, int] | None = None
                for cycle in range(CYCLES):
                    os.kill(serve.pid, signal.SIGSTOP)
                    frozen_at = anyio.current_time()
                    await wait_activity(rep, offline, within=10 * HEARTBEAT)
                    noticed.append(anyio.current_time() - frozen_at)
                    os.kill(serve.pid, signal.SIGCONT)
                    local.save(f"after-thaw-{cycle}", {"cycle": cycle}, rev=None)
                    await poll(lambda c=cycle: remote.get(f"after-thaw-{c}") is not None, 15)
                    if baseline is None:
                        baseline = _vitals()
                final = _vitals()
                await rep.stop()
    finally:
        _reap(serve)
    assert max(noticed) <= NOTICE_LIMIT, noticed
    assert baseline is not None
    assert final[0] <= baseline[0] + 2 and final[1] <= baseline[1] + 2, (baseline, final)
    print(f"frozen listener noticed after {min(noticed):.2f}-{max(noticed):.2f} s "
          f"(heartbeat {HEARTBEAT} s) over {CYCLES} cycles; fds/tasks {baseline} -> {final}")


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
                baseline: tuple[int, int] | None = None
                for _ in range(CYCLES):
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
                        baseline = _vitals()
                final = _vitals()
            finally:
                events.close()
                _reap(sync)
    assert max(noticed) <= NOTICE_LIMIT, noticed
    assert baseline is not None
    assert final[0] <= baseline[0] + 2 and final[1] <= baseline[1] + 2, (baseline, final)
    print(f"frozen replicator noticed after {min(noticed):.2f}-{max(noticed):.2f} s "
          f"(heartbeat {HEARTBEAT} s) over {CYCLES} cycles; fds/tasks {baseline} -> {final}")


async def _next(events: object, kind: type) -> object:
    async for event in events:  # type: ignore[attr-defined]
        if isinstance(event, kind):
            return event
    raise AssertionError(f"no {kind.__name__}")
