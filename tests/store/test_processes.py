"""Crash safety under SIGKILL, and several processes sharing one database."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from engine.store import Database
from tests.helpers import REPO_ROOT, cli_env

LONG = os.environ.get("LISTSYNC_LONG") == "1"


def spawn(*args: str, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.child", *args], env=cli_env(), cwd=REPO_ROOT,
        stdout=subprocess.PIPE, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        text=True)


def kill_cycles(path: Path, cycles: int, compact: bool, seed: int) -> int:
    """Run a writer, SIGKILL it at a random moment, verify; returns writes checked."""
    rng = random.Random(seed)
    latest: dict[str, tuple[str, str | None]] = {}  # doc -> last acknowledged (rev, parent)
    local_n = 0
    checked = 0
    for cycle in range(cycles):
        proc = spawn("crash", str(path), str(seed * 100_000 + cycle),
                     *(["compact"] if compact else []))
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["op"] == "ready"
        for _ in range(rng.randrange(12)):
            proc.stdout.readline()
        # Randomise the kill moment within a write, not just between acknowledgements.
        time.sleep(rng.random() * 0.004)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # Everything the child printed before dying was acknowledged (whole lines only).
        out = proc.stdout.read()
        proc.stdout.close()
        for line in out.splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
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
    return checked


def test_acknowledged_writes_survive_sigkill(tmp_path: Path) -> None:
    cycles = 1000 if LONG else 200
    assert kill_cycles(tmp_path / "db", cycles, compact=False, seed=1) > cycles


def test_sigkill_during_compaction_leaves_old_or_new_state(tmp_path: Path) -> None:
    cycles = 300 if LONG else 40
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
