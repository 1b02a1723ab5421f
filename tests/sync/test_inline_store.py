"""Where received revisions are stored: on the receiver's event loop when the database
is idle and the frame is not too big, else in a worker thread (storeio.LOOP_STORE_MAX):
a listener taking a push, and a client pulling (bodies inline in changes frames, or
asked for and sent in revs frames)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

import engine.sync.inline as inline
import engine.sync.transfer as transfer
from engine.store import Database
from engine.sync.config import Mode
from tests.sync.peers import MemoryPeer, doc_map, open_db, sync_once

pytestmark = pytest.mark.anyio


def _fill(db: Database, count: int) -> None:
    db.save_many([(f"doc-{i:05d}", {"n": i, "text": "x" * 50}, None) for i in range(count)])


def _record_threads(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(thread id, revisions) of each put_revisions call on `db`, in order."""
    calls: list[tuple[int, int]] = []
    real = db.put_revisions

    def put_revisions(revisions: list[Any], **kw: Any) -> list[int]:
        calls.append((threading.get_ident(), len(revisions)))
        return real(revisions, **kw)

    monkeypatch.setattr(db, "put_revisions", put_revisions)
    return calls


async def _sync(src: Database, dst: Database, served: Database, mode: Mode) -> None:
    async with anyio.create_task_group() as tg:
        await sync_once(src if mode is Mode.PUSH else dst, MemoryPeer(served, tg), mode=mode)
        tg.cancel_scope.cancel()


def _hold_lock_from_first_frame(db: Database, monkeypatch: pytest.MonkeyPatch,
                                until: threading.Event) -> None:
    """From the listener's first revs frame on, `db`'s in-process lock is held by a
    thread of its own, until `until` is set."""
    real_handle = transfer.RevisionReceiver.handle
    held = threading.Event()

    def hold() -> None:
        with db.held_if_idle() as got:
            assert got
            held.set()
            until.wait(10)

    async def handle(self: transfer.RevisionReceiver, msg: Any) -> Any:
        if not held.is_set():
            threading.Thread(target=hold, daemon=True).start()
            held.wait(10)
        return await real_handle(self, msg)

    monkeypatch.setattr(transfer.RevisionReceiver, "handle", handle)


async def test_a_frame_for_a_busy_database_waits_in_a_worker_thread_not_on_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    _fill(a, 700)
    calls = _record_threads(b, monkeypatch)
    first_call = threading.Event()
    real = b.put_revisions

    def put_revisions(revisions: list[Any], **kw: Any) -> list[int]:
        first_call.set()  # (then the holder lets go, and this call gets the lock)
        return real(revisions, **kw)

    monkeypatch.setattr(b, "put_revisions", put_revisions)
    _hold_lock_from_first_frame(b, monkeypatch, first_call)
    with anyio.fail_after(8):  # (the holder would let go after 10 s)
        await _sync(a, b, b, Mode.PUSH)
    assert doc_map(a) == doc_map(b)
    loop = threading.get_ident()
    assert calls[0][0] != loop  # the lock was taken: the loop must not wait for it
    assert len(calls) >= 2 and all(t == loop for t, _ in calls[1:])  # idle again


# A listener taking a push (revs frames) and a client pulling (bodies in changes frames):
# (mode, the module whose limit applies to that receiver).
RECEIVERS = [pytest.param(Mode.PUSH, transfer, id="push"),
             pytest.param(Mode.PULL, inline, id="pull")]


async def _receive_700(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode
                       ) -> list[tuple[int, int]]:
    """Sync 700 documents from a sender to a receiver (the listener when pushing, the
    client when pulling): the receiver's put_revisions calls, as _record_threads."""
    a, b = open_db(tmp_path, "a"), open_db(tmp_path, "b")
    sender, receiver = (a, b) if mode is Mode.PUSH else (b, a)
    _fill(sender, 700)
    calls = _record_threads(receiver, monkeypatch)
    await _sync(sender, receiver, b, mode)
    assert doc_map(a) == doc_map(b)
    assert sum(n for _, n in calls) == 700
    return calls


@pytest.mark.parametrize(("mode", "module"), RECEIVERS)
async def test_received_frames_are_stored_on_the_event_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode, module: Any) -> None:
    calls = await _receive_700(tmp_path, monkeypatch, mode)
    assert len(calls) >= 2 and {t for t, _ in calls} == {threading.get_ident()}


@pytest.mark.parametrize(("mode", "module"), RECEIVERS)
async def test_a_frame_over_the_limit_is_stored_in_a_worker_thread(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: Mode, module: Any) -> None:
    monkeypatch.setattr(module, "LOOP_STORE_MAX", 99)  # every frame has 100 or more
    calls = await _receive_700(tmp_path, monkeypatch, mode)
    assert all(n >= 100 and t != threading.get_ident() for t, n in calls)
