"""Network faults through the proxy: pull, push and continuous sync each ride out
latency, a bandwidth cap, a stall, a mid-frame cut, resets and a slow TLS
handshake; once the fault clears they finish, with only whole revisions applied.
Transient faults are retried with backoff; wrong passwords and certificates are not."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from engine.errors import AuthError, TLSValidationError
from engine.store import Database
from engine.sync.config import Mode, RetryPolicy
from engine.sync.replicator import Replicator
from engine.sync.status import Activity
from tests.faults.proxy import FaultProxy
from tests.faults.rig import (
    QUICK_RETRY,
    assert_whole_and_single,
    connector,
    doc_map,
    offline,
    poll,
    replicator,
    seed,
    serving,
    wait_activity,
)
from tests.transport.support import make_identity

pytestmark = pytest.mark.anyio
DOCS = 400
Opener = Callable[[str], Database]
FAULTS = ["latency", "bandwidth", "stall", "cut", "reset", "slow-tls"]
MODES = ["pull", "push", "continuous"]


def arm(proxy: FaultProxy, fault: str) -> None:
    if fault == "latency":
        proxy.latency, proxy.jitter = 0.03, 0.02
    elif fault == "bandwidth":
        proxy.bandwidth = 400_000  # bytes/s: the blob alone takes ~0.5 s
    elif fault == "stall":
        proxy.stall = True
    elif fault == "cut":
        proxy.cut_after = 60_000  # inside the first changes/revs frames
    elif fault == "reset":
        proxy.reset_new = True
    elif fault == "slow-tls":
        proxy.handshake_delay = 1.5  # past the 1 s connect timeout


async def bites(proxy: FaultProxy, rep: Replicator, fault: str) -> None:
    """Wait until the fault has visibly hurt the sync (not needed for slow networks)."""
    if fault in ("stall", "cut", "reset", "slow-tls"):
        await wait_activity(rep, offline)
    if fault in ("cut", "reset"):
        assert proxy.cuts >= 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fault", FAULTS)
async def test_sync_finishes_once_the_fault_clears(tmp_path: Path, open_db: Opener,
                                                   fault: str, mode: str) -> None:
    source, target = open_db("source"), open_db("target")
    seed(source, DOCS, blob_size=200_000)
    identity = make_identity() if fault == "slow-tls" else None
    server_ctx = identity.server_context() if identity else None
    client_ctx = identity.trusting_client_context() if identity else None
    # Pull and continuous: the listener holds the source; push: it holds the target.
    served, local = (target, source) if mode == "push" else (source, target)
    async with serving(served, tmp_path, ssl_context=server_ctx) as listener, \
            FaultProxy(listener.port or 0) as proxy, anyio.create_task_group() as tg:
        arm(proxy, fault)
        rep = replicator(local, connector(proxy.port, tls=client_ctx),
                         mode=Mode.PULL if mode == "pull" else Mode.PUSH if mode == "push"
                         else Mode.PUSH_AND_PULL, continuous=mode == "continuous")
        finished = anyio.Event()

        async def run() -> None:
            await rep.run()
            finished.set()

        tg.start_soon(run)
        with anyio.fail_after(20):
            await bites(proxy, rep, fault)
            assert_whole_and_single(target, source)  # a cut frame left nothing partial
            if mode == "continuous":
                source.save("late", {"written": "during the fault"}, rev=None)
            proxy.clear()
            if mode == "continuous":
                await poll(lambda: doc_map(target) == doc_map(source), 15)
                await rep.stop()
            await finished.wait()
    assert doc_map(target) == doc_map(source)
    assert len(source.all_docs()) == DOCS + 1 + (mode == "continuous")  # + picture
    assert_whole_and_single(target, source)


async def test_transient_failures_are_retried_with_growing_waits(
        tmp_path: Path, open_db: Opener) -> None:
    source, target = open_db("source"), open_db("target")
    seed(source, 10)
    async with serving(source, tmp_path) as listener, FaultProxy(listener.port or 0) as proxy:
        proxy.reset_new = True
        rep = replicator(target, connector(proxy.port), mode=Mode.PULL)
        async with anyio.create_task_group() as tg:
            tg.start_soon(rep.run)
            await poll(lambda: len(proxy.accepted) >= 5, 10)
            proxy.clear()
        gaps = [b - a for a, b in zip(proxy.accepted, proxy.accepted[1:5], strict=False)]
    # initial_wait 0.05 s, doubling, no jitter: 0.05, 0.1, 0.2, 0.4 (then capped)
    for attempt, gap in enumerate(gaps):
        assert gap >= QUICK_RETRY.wait(attempt + 1) * 0.9
    assert gaps[3] > 2.5 * gaps[0]  # connecting adds a little to every gap
    assert doc_map(target) == doc_map(source)


async def test_wrong_password_through_the_proxy_is_not_retried(
        tmp_path: Path, open_db: Opener) -> None:
    source, target = open_db("source"), open_db("target")
    async with serving(source, tmp_path) as listener, FaultProxy(listener.port or 0) as proxy:
        proxy.latency = 0.02
        rep = replicator(target, connector(proxy.port, password="wrong"))
        with anyio.fail_after(10), pytest.raises(AuthError):
            await rep.run()
        assert len(proxy.accepted) == 1


async def test_wrong_certificate_through_the_proxy_is_not_retried(
        tmp_path: Path, open_db: Opener) -> None:
    source, target = open_db("source"), open_db("target")
    server, stranger = make_identity("server"), make_identity("stranger")
    async with serving(source, tmp_path, ssl_context=server.server_context()) as listener, \
            FaultProxy(listener.port or 0) as proxy:
        proxy.handshake_delay = 0.2
        rep = replicator(target, connector(proxy.port, tls=stranger.trusting_client_context()))
        with anyio.fail_after(10), pytest.raises(TLSValidationError):
            await rep.run()
        assert len(proxy.accepted) == 1
    assert target.get("doc000000") is None


async def test_backoff_starts_over_after_every_connection_that_worked(
        tmp_path: Path, open_db: Opener) -> None:
    source, target = open_db("source"), open_db("target")
    retry = RetryPolicy(max_attempts=0, initial_wait=0.05, max_wait=5.0, jitter=0.0)
    async with serving(source, tmp_path) as listener, FaultProxy(listener.port or 0) as proxy, \
            anyio.create_task_group() as tg:
        rep = replicator(target, connector(proxy.port), continuous=True, retry=retry)
        tg.start_soon(rep.run)
        for _ in range(10):  # without the reset, drop 8 would wait 0.05 * 2**7 s
            await wait_activity(rep, lambda s: s.activity is Activity.IDLE)
            await proxy.reset_all()
            await wait_activity(rep, offline)
            with anyio.fail_after(2):
                await wait_activity(rep, lambda s: s.activity is Activity.IDLE)
        await rep.stop()
