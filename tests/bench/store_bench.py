#!/usr/bin/env python3
"""Store benchmark: listsync's file journal beside stdlib sqlite3, same run.

SQLite runs in WAL mode with synchronous=FULL (durable commits), one table of
(id TEXT PRIMARY KEY, body TEXT) holding the same ~1 KB JSON documents. The
strict baseline hands SQLite JSON text made before the clock starts; the
"serializing" rows let it json.dumps the same dicts the store is given.
Prints one line per figure and the ratios. Not a test: run it by hand
(`python tests/bench/store_bench.py`, BENCH_N_SMALL / BENCH_N_LARGE tune it).
Each open-and-read figure and the RSS figure come from a fresh child process.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from engine.store import Database  # noqa: E402

N_SINGLE = int(os.environ.get("BENCH_N_SINGLE", "2000"))
N_BATCHED = int(os.environ.get("BENCH_N_BATCHED", "20000"))
N_SMALL = int(os.environ.get("BENCH_N_SMALL", "10000"))
N_LARGE = int(os.environ.get("BENCH_N_LARGE", "100000"))
RUNS = int(os.environ.get("RUNS", "3"))


def make_body(i: int, rng: random.Random) -> dict[str, object]:
    notes = "".join(rng.choice(string.ascii_letters + "      ") for _ in range(900))
    return {"type": "item", "name": f"name item-{i:06d}", "qty": i, "notes": notes}


# ---- listsync ---------------------------------------------------------------

def ls_single(path: Path, n: int) -> float:
    rng = random.Random(1)
    bodies = [make_body(i, rng) for i in range(n)]
    db = Database.open(path)
    t0 = time.perf_counter()
    for i, body in enumerate(bodies):
        db.save(f"item-{i:06d}", body, rev=None)
    dt = time.perf_counter() - t0
    db.close()
    return n / dt


def ls_batched(path: Path, n: int, batch: int = 100) -> float:
    rng = random.Random(2)
    bodies = [make_body(i, rng) for i in range(n)]
    db = Database.open(path)
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        db.save_many([(f"item-{i:06d}", bodies[i], None) for i in range(start, start + batch)])
    dt = time.perf_counter() - t0
    db.close()
    return n / dt


def ls_fill(path: Path, n: int) -> None:
    rng = random.Random(3)
    db = Database.open(path)
    for start in range(0, n, 1000):
        db.save_many([(f"item-{i:06d}", make_body(i, rng), None)
                      for i in range(start, min(n, start + 1000))])
    db.close()


CHILD_LS = """
import sys, time
sys.path.insert(0, sys.argv[2])
from engine.store import Database
t0 = time.perf_counter()
db = Database.open(__import__('pathlib').Path(sys.argv[1]), create=False)
t_open = time.perf_counter() - t0
docs = db.all_docs()
n = sum(1 for d in docs if d.body is not None and d.body.get('qty') is not None)
t_all = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries the parent's peak across fork+exec into ru_maxrss.
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]
print(t_open, t_all, n, hwm)
"""

# ---- sqlite -------------------------------------------------------------------

def sq_connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
    return con


def _text(body: object) -> object:
    return body


def sq_single(path: Path, n: int, dumps: bool = False) -> float:
    """SQLite given JSON text made before the clock starts (the strict baseline), or
    with `dumps`, given the dicts as the store is and serializing them itself."""
    rng = random.Random(1)
    bodies = [make_body(i, rng) for i in range(n)]
    texts: list[object] = bodies if dumps else [json.dumps(b) for b in bodies]
    text = json.dumps if dumps else _text
    con = sq_connect(path)
    t0 = time.perf_counter()
    for i, body in enumerate(texts):
        con.execute("INSERT INTO docs VALUES (?, ?)", (f"item-{i:06d}", text(body)))
    dt = time.perf_counter() - t0
    con.close()
    return n / dt


def sq_batched(path: Path, n: int, batch: int = 100, dumps: bool = False) -> float:
    rng = random.Random(2)
    bodies = [make_body(i, rng) for i in range(n)]
    texts: list[object] = bodies if dumps else [json.dumps(b) for b in bodies]
    text = json.dumps if dumps else _text
    con = sq_connect(path)
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        con.execute("BEGIN")
        con.executemany("INSERT INTO docs VALUES (?, ?)",
                        [(f"item-{i:06d}", text(texts[i])) for i in range(start, start + batch)])
        con.execute("COMMIT")
    dt = time.perf_counter() - t0
    con.close()
    return n / dt


def sq_fill(path: Path, n: int) -> None:
    rng = random.Random(3)
    con = sq_connect(path)
    for start in range(0, n, 1000):
        con.execute("BEGIN")
        con.executemany("INSERT INTO docs VALUES (?, ?)",
                        [(f"item-{i:06d}", json.dumps(make_body(i, rng)))
                         for i in range(start, min(n, start + 1000))])
        con.execute("COMMIT")
    con.close()


CHILD_SQ = """
import sys, time, json, sqlite3
t0 = time.perf_counter()
con = sqlite3.connect(sys.argv[1])
con.execute('PRAGMA journal_mode=WAL')
t_open = time.perf_counter() - t0
n = 0
for _id, body in con.execute('SELECT id, body FROM docs'):
    if json.loads(body).get('qty') is not None:
        n += 1
t_all = time.perf_counter() - t0
# VmHWM, not ru_maxrss: Linux carries the parent's peak across fork+exec into ru_maxrss.
hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')][0].split()[1]
print(t_open, t_all, n, hwm)
"""


def child(code: str, path: Path) -> tuple[float, float, int, int]:
    out = subprocess.run([sys.executable, "-c", code, str(path), str(REPO)],
                         capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1]), int(out[2]), int(out[3])


def median(fn, runs: int = RUNS) -> float:
    return statistics.median(fn() for _ in range(runs))


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="listsync-bench-"))
    try:
        def fresh(name: str) -> Path:
            p = tmp / name
            shutil.rmtree(p, ignore_errors=True)
            if p.exists():
                p.unlink()
            return p

        rows: list[tuple[str, float, float, str]] = []
        paired: list[str] = []
        # Trials interleaved (listsync, SQLite, SQLite serializing) so that a noisy
        # neighbour hits all three alike; the per-trial ratios are printed too.
        for name, ours, theirs, n in [("durable single saves/s", ls_single, sq_single, N_SINGLE),
                                      ("saves/s in batches of 100", ls_batched, sq_batched,
                                       N_BATCHED)]:
            def run(j: int, ours=ours, theirs=theirs, n=n) -> float:  # type: ignore[no-untyped-def]
                if j == 0:
                    return float(ours(fresh("ls"), n))
                return float(theirs(fresh(f"sq{j}.db"), n, dumps=j == 2))

            trials = []
            for k in range(RUNS):
                # Each trial starts with a different one: a run right after another's
                # writes measured up to ~10% slower here.
                got: dict[int, float] = {}
                for j in range(3):
                    got[(j + k) % 3] = run((j + k) % 3)
                trials.append((got[0], got[1], got[2]))
            ls, sq, sqd = (statistics.median(t[k] for t in trials) for k in range(3))
            rows.append((name, ls, sq, "higher is better"))
            rows.append(("  vs SQLite serializing the dicts", ls, sqd, "higher is better"))
            paired.append(f"{name}: per-trial ratios " + ", ".join(
                f"{t[0] / t[1]:.2f}" for t in trials) + " (strict); " + ", ".join(
                f"{t[0] / t[2]:.2f}" for t in trials) + " (SQLite serializing)")
        for n in (N_SMALL, N_LARGE):
            ls_fill(fresh(f"ls{n}"), n)
            sq_fill(fresh(f"sq{n}.db"), n)
            lsr = [child(CHILD_LS, tmp / f"ls{n}") for _ in range(RUNS)]
            sqr = [child(CHILD_SQ, tmp / f"sq{n}.db") for _ in range(RUNS)]
            assert all(r[2] == n for r in lsr + sqr), "read-all count mismatch"
            rows.append((f"open {n} docs (s)", statistics.median(r[0] for r in lsr),
                         statistics.median(r[0] for r in sqr), "lower is better"))
            rows.append((f"open+read all {n} docs (s)", statistics.median(r[1] for r in lsr),
                         statistics.median(r[1] for r in sqr), "lower is better"))
            rows.append((f"peak RSS open+read {n} (MB)",
                         statistics.median(r[3] for r in lsr) / 1024,
                         statistics.median(r[3] for r in sqr) / 1024, "lower is better"))
        print(f"{'figure':34s} {'listsync':>12s} {'sqlite3':>12s} {'ratio':>8s}")
        for name, a, b, note in rows:
            print(f"{name:34s} {a:12.3f} {b:12.3f} {a / b:8.2f}  ({note}; ratio = listsync/sqlite)")
        for line in paired:
            print(line)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
