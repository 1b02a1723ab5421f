"""Crash safety under SIGKILL, and several processes sharing one database."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from engine.errors import ConflictError
from engine.store import Database
from engine.store.journal import FileOps, Journal
from engine.store.lock import FileLock
from tests.helpers import REPO_ROOT, cli_env

LONG = os.environ.get("LISTSYNC_LONG") == "1"


def spawn(*args: str, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.child", *args], env=cli_env(), cwd=REPO_ROOT,
        stdout=subprocess.PIPE, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        text=True)


def kill_cycles(path: Path, cycles: int, compact: bool, seed: int) -> int:
    """Start a writer, SIGKILL it at a random moment, reopen and verify, `cycles` times.

    Writers are forked by one zygote child so a cycle costs milliseconds, not an
    interpreter start. Returns how many acknowledged writes were verified.
    """
    rng = random.Random(seed)
    latest: dict[str, tuple[str, str | None]] = {}  # doc -> last acknowledged (rev, parent)
    local_n = 0
    checked = 0
    fifo = path.parent / f"acks-{seed}"
    os.mkfifo(fifo)
    zygote = spawn("zygote", "-", stdin=True)
    assert zygote.stdin is not None and zygote.stdout is not None
    live_pid = None  # a writer we started and have not killed yet
    try:
        for cycle in range(cycles):
            zygote.stdin.write(f"{path} {seed * 100_000 + cycle} {int(compact)} {fifo}\n")
            zygote.stdin.flush()
            pid = live_pid = int(zygote.stdout.readline())
            with open(fifo) as acks:
                lines = [acks.readline()]
                assert json.loads(lines[0])["op"] == "ready", lines
                for _ in range(rng.randrange(8)):
                    lines.append(acks.readline())
                # Randomise the kill moment within a write, not just between acks.
                time.sleep(rng.random() * 0.003)
                os.kill(pid, signal.SIGKILL)
                live_pid = None
                lines.extend(acks.read().splitlines())  # EOF: the writer is dead
            for line in lines:
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # cut off mid-line by the kill
                    continue
                assert entry["op"] != "error", entry
                if entry["op"] == "save":
                    latest[entry["doc"]] = (entry["rev"], entry["parent"])
                elif entry["op"] == "local":
                    local_n = max(local_n, entry["n"])
            with Database.open(path) as db:
                for doc_id, (rev, parent) in latest.items():
                    got = db.get_rev(doc_id, rev)
                    assert got is not None, f"cycle {cycle}: acknowledged {doc_id} {rev} lost"
                    assert got.history[:2] == ([rev, parent] if parent else [rev])
                    checked += 1
                assert (db.get_local("cp") or {"n": 0})["n"] >= local_n
                if cycle % 10 == 0 or cycle == cycles - 1:
                    assert db.check() == []
    finally:
        if live_pid is not None:  # a failed assertion left it running (writers never exit)
            os.kill(live_pid, signal.SIGKILL)
        zygote.stdin.close()
        zygote.wait(timeout=30)
        zygote.stdout.close()
    return checked


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    cycles = 1000 if LONG else 200
    assert kill_cycles(tmp_path / "db", cycles, compact=False, seed=1) > cycles


def test_sigkill_during_compaction_leaves_old_or_new_state(tmp_path: Path) -> None:
    cycles = 500 if LONG else 60
    assert kill_cycles(tmp_path / "db", cycles, compact=True, seed=2) > 0
    assert not (tmp_path / "db" / "journal.init").exists()


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "db"
    Database.open(path).close()
    n = 40 if LONG else 15
    procs = [spawn("worker", str(path), str(i), str(n)) for i in range(3)]
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0 and '"done"' in out
    with Database.open(path) as db:
        assert db.get("counter").body == {"n": 3 * n}  # type: ignore[union-attr]
        ids = [c.doc_id for c in db.changes()]
        assert len(ids) == len(set(ids)) == 3 * n + 1
        assert db.update_seq == 3 * n * 2
        assert db.check() == []


def test_racing_creators_run_init_exactly_once(tmp_path: Path) -> None:
    path, marker = tmp_path / "db", tmp_path / "marker"
    procs = [spawn("init", str(path), str(marker), stdin=True) for _ in range(4)]
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        results.append(json.loads(out))
    assert len(marker.read_text().splitlines()) == 1
    assert {r["uuid"] for r in results} == {marker.read_text().strip()}
    assert all(r["list"] for r in results)


def test_another_handle_sees_appends_and_survives_compaction(db_path: Path) -> None:
    with Database.open(db_path) as a, Database.open(db_path) as b:
        rev = a.save("doc", {"v": 1}, rev=None)
        assert b.get("doc").rev == rev  # type: ignore[union-attr]
        for i in range(5):
            rev = b.save("doc", {"v": i + 2}, rev=rev)
        a.compact()
        assert b.get("doc").rev == rev  # type: ignore[union-attr]
        assert b.update_seq == a.update_seq == 6
        rev2 = b.save("doc", {"v": 100}, rev=rev)
        assert a.get("doc").rev == rev2  # type: ignore[union-attr]
        assert a.check() == [] and b.check() == []


def test_handles_see_every_compaction_by_others_before_they_write(db_path: Path) -> None:
    with Database.open(db_path) as a, Database.open(db_path) as b:
        rev = a.save("doc", {"v": 1}, rev=None)
        for i in range(3):
            a.compact()
            rev = b.save("doc", {"v": i + 2}, rev=rev)
            assert a.get("doc").rev == rev  # type: ignore[union-attr]
        b.compact()
        b.compact()
        rev = a.save("doc", {"v": 9}, rev=rev)
        assert b.get("doc").rev == rev  # type: ignore[union-attr]
        assert a.check() == [] and b.check() == []


def test_a_journal_opened_just_before_a_compaction_is_reloaded(db_path: Path) -> None:
    # Opening reads the journal file before it first takes the lock; a compaction by
    # another process in that gap must not leave the new handle on the replaced file.
    with Database.open(db_path) as a:
        rev = a.save("doc", {"v": 1}, rev=None)
        early = Journal(db_path / "journal", FileOps())
        a.compact()
        with Database(db_path, FileLock(db_path / "lock"), early, FileOps(), 100, 4) as b:
            rev = b.save("doc", {"v": 2}, rev=rev)
        assert a.get("doc").rev == rev  # type: ignore[union-attr]
        assert a.check() == []


def test_threads_sharing_one_handle_lose_nothing(db_path: Path) -> None:
    with Database.open(db_path) as db:
        def work(index: int) -> None:
            for i in range(10):
                db.save(f"t{index}-{i}", {"i": i}, rev=None)
                while True:
                    cur = db.get("counter")
                    try:
                        db.save("counter", {"n": (cur.body["n"] if cur else 0) + 1},
                                rev=cur.rev if cur else None)
                        break
                    except ConflictError:
                        continue

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert db.get("counter").body == {"n": 40}  # type: ignore[union-attr]
        assert len(db.all_docs()) == 41 and db.update_seq == 80
        assert db.check() == []
