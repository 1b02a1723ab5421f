"""Peer crashes: SIGKILL the sending or the receiving `listsync` process at random
points of a many-document sync, restart it, and nothing is lost or doubled.

CI runs 10 kill cycles on 2k documents; LISTSYNC_LONG=1 runs 100 on 10k.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

from engine import open_list_db
from tests.faults.rig import (
    LONG,
    USER,
    doc_map,
    journal_size,
    seed,
    start_serve,
    start_sync,
    wait_exit,
)

CYCLES = 100 if LONG else 10
DOCS = 10_000 if LONG else 2_000


def _wait_for_point(dst_dir: Path, point: float, sync: subprocess.Popen[str]) -> None:
    """Poll (another process writes it) until the receiver's journal reaches `point` bytes."""
    deadline = time.monotonic() + 60
    while journal_size(dst_dir) < point and sync.poll() is None:
        assert time.monotonic() < deadline, "the sync made no progress"
        time.sleep(0.005)


def _stop(serve: subprocess.Popen[str]) -> None:
    serve.send_signal(signal.SIGTERM)
    assert wait_exit(serve, 30) == 0


def test_sigkill_at_random_points_of_a_sync_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(9)
    src_dir, dst_dir = tmp_path / "src", tmp_path / "dst"
    with open_list_db(src_dir, USER) as src:
        seed(src, DOCS, blob_size=300_000)
        expected = doc_map(src)
    full = journal_size(src_dir)
    kills = {"sender": 0, "receiver": 0}
    procs: list[subprocess.Popen[str]] = []
    serve: subprocess.Popen[str] | None = None
    port = 0
    try:
        for cycle in range(CYCLES):
            # Pull cycles first (the listener holds the source and stays up unless
            # killed), then push cycles (a fresh listener on an empty target each time).
            push = cycle >= CYCLES // 2
            serve_dir, sync_dir = (dst_dir, src_dir) if push else (src_dir, dst_dir)
            direction = "--push-only" if push else "--pull-only"
            if push and serve is not None and cycle == CYCLES // 2:
                _stop(serve)
                serve = None
            shutil.rmtree(dst_dir, ignore_errors=True)  # every cycle is a whole new sync
            if serve is None:
                serve, port = start_serve(serve_dir)
                procs.append(serve)
            sync = start_sync(sync_dir, port, direction, "--retries", "20")
            procs.append(sync)
            # A random point: the receiver's journal has reached a random fraction.
            point = rng.uniform(0.0, 0.95) * full
            _wait_for_point(dst_dir, point, sync)
            assert sync.poll() is None, f"cycle {cycle}: the sync finished before the kill"
            sender = rng.random() < 0.5
            kill_serve = sender != push  # push: the sender is the sync process
            victim = serve if kill_serve else sync
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            kills["sender" if sender else "receiver"] += 1
            if kill_serve:
                serve, _ = start_serve(serve_dir, port=port)  # the sync retries meanwhile
                procs.append(serve)
            else:
                sync = start_sync(sync_dir, port, direction, "--retries", "20")
                procs.append(sync)
            assert wait_exit(sync, 120) == 0, sync.stderr.read() if sync.stderr else ""
            if push:
                _stop(serve)
                serve = None
            with open_list_db(dst_dir, USER) as dst, open_list_db(src_dir, USER) as src:
                assert dst.check() == [] and src.check() == []
                got = doc_map(dst)
                assert got == doc_map(src) == expected, f"cycle {cycle} diverged"
                assert all(len(leaves) == 1 for *_, leaves in got.values())
                assert len(dst.changes()) == len(got)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
    assert kills["sender"] and kills["receiver"]
    print(f"kill cycles survived: {CYCLES} ({kills}) on {DOCS} docs")
