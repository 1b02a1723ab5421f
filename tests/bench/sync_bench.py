#!/usr/bin/env python3
"""Sync benchmark: listsync beside the PouchDB anchor, in the same run.

Figures (each the median of RUNS runs, every peer a separate process, loopback):
- one-shot pull of N ~1 KB docs from a `serve` peer into an empty durable store;
- one-shot push of N new docs into an empty `serve` peer;
- live latency: the serving peer commits an edit; time until it shows in the
  other peer's change feed (continuous sync), NUPD edits in a row (p50/p95/p99);
- peak RSS of the serving process holding N docs.
The PouchDB anchor (../shared/anchors/pouchdb, copied to a temp dir and
npm-installed) runs in the same invocation unless --no-pouch; ratios are printed.

    python tests/bench/sync_bench.py [--n 10000] [--updates 200] [--runs 3] [--no-pouch]
                                     [--hashed-login]

The serving peer checks bob/password against the shipped (plaintext) allowlist, which
costs no scrypt; --hashed-login gives it a hashed entry instead, so each run's first
login pays one scrypt (~40 ms here) inside the pull and push figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
# The shared folder sits beside the main checkout; a worktree (/work/wt/<name>) is one deeper.
ANCHOR = next((p / "shared" / "anchors" / "pouchdb" for p in REPO.parents
               if (p / "shared" / "anchors" / "pouchdb").is_dir()),
              REPO.parent / "shared" / "anchors" / "pouchdb")


def make_docs(prefix: str, start: int, count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed + start)
    alpha = string.ascii_lowercase + "      " + "ABCDEFGHIJ0123456789.,"
    return [(f"{prefix}-{i:05d}",
             {"type": "item", "name": f"name {prefix}-{i:05d}", "qty": i,
              "notes": "".join(rng.choice(alpha) for _ in range(900))})
            for i in range(start, start + count)]


# ---- roles (each runs in its own process) ----------------------------------------

def role_seed(path: str, prefix: str, n: int) -> None:
    from engine import Database

    with Database.open(Path(path)) as db:
        for start in range(0, n, 1000):
            db.save_many([(i, b, None) for i, b in make_docs(prefix, start, min(1000, n - start),
                                                             12345)])


def role_server(path: str, hashed: bool = False) -> None:
    """A passive peer that also commits edits on request (stdin "update ID")."""
    import anyio

    from engine import Database, ListenOptions, make_listener

    if hashed:
        from engine.sync.auth import add_user

        add_user(Path(path).parent / "auth", "bob", "password")

    async def main() -> None:
        with Database.open(Path(path)) as db:
            # The bench authenticates as bob/password from the shipped allowlist.
            listener = make_listener(db, "bench", data_dir=Path(path).parent / "auth",
                                     ssl_context=None,
                                     options=ListenOptions(host="127.0.0.1"))
            async with anyio.create_task_group() as tg:
                port = await tg.start(listener.serve)
                print(json.dumps({"port": port}), flush=True)
                stdin = anyio.wrap_file(sys.stdin)
                counter = 0
                async for line in stdin:
                    cmd = line.split()
                    if not cmd:
                        continue
                    if cmd[0] == "update":
                        counter += 1
                        doc = db.get(cmd[1])
                        assert doc is not None
                        body = dict(doc.body or {}, qty=int((doc.body or {})["qty"]) + 1,
                                    counter=counter)
                        rev = await anyio.to_thread.run_sync(
                            lambda b=body, r=doc.rev, d=cmd[1]: db.save(d, b, rev=r))
                        t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                        print(json.dumps({"rev": rev, "t": t}), flush=True)
                    elif cmd[0] == "rss":
                        print(json.dumps({"hwm_kb": _hwm_kb()}), flush=True)
                    elif cmd[0] == "quit":
                        break
                await listener.stop()
                tg.cancel_scope.cancel()

    anyio.run(main)


def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return -1


def role_client(path: str, url: str, mode: str, n: int) -> None:
    """One-shot pull or push; prints elapsed ms and docs in the target."""
    import anyio

    from engine import Database, Mode, Replicator, ReplicatorConfig, make_connector

    async def main() -> None:
        with Database.open(Path(path)) as db:
            config = ReplicatorConfig(mode=Mode.PULL if mode == "pull" else Mode.PUSH)
            rep = Replicator(db, make_connector(url, username="bob", password="password",
                                                tls=None), config)
            t0 = time.perf_counter()
            await rep.run()
            ms = (time.perf_counter() - t0) * 1000
            print(json.dumps({"ms": ms, "docs": len(db.all_docs()), "hwm_kb": _hwm_kb()}),
                  flush=True)

    anyio.run(main)


def role_live(path: str, url: str) -> None:
    """Continuous sync; prints (rev, CLOCK_MONOTONIC ns) for each change seen locally."""
    import anyio

    from engine import Database, Replicator, ReplicatorConfig, make_connector

    async def main() -> None:
        with Database.open(Path(path)) as db:
            rep = Replicator(db, make_connector(url, username="bob", password="password",
                                                tls=None),
                             ReplicatorConfig(continuous=True))
            async with anyio.create_task_group() as tg:
                tg.start_soon(rep.run)
                last = db.update_seq
                print(json.dumps({"ready": True}), flush=True)
                async for seq in db.subscribe(last):
                    t = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
                    for change in db.changes(last):
                        print(json.dumps({"rev": change.rev, "t": t}), flush=True)
                    last = seq

    anyio.run(main)


# ---- orchestration ------------------------------------------------------------------

def spawn(*args: str, stdin: bool = False) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, "--role", *args], text=True,
                            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO)))


def read_json(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"a bench process ended early (exit {proc.wait()})")
    return dict(json.loads(line))


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(-(-p / 100 * len(s) // 1)) - 1))]


def one_run(tmp: Path, n: int, nupd: int, hashed: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    server_db = tmp / "server" / "db"
    subprocess.run([sys.executable, __file__, "--role", "seed", str(server_db), "item", str(n)],
                   check=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    server = spawn("server", str(server_db), *(["hashed"] if hashed else []), stdin=True)
    try:
        port = read_json(server)["port"]
        url = f"ws://127.0.0.1:{port}/bench"
        pull = spawn("client", str(tmp / "client" / "db"), url, "pull", str(n))
        res = read_json(pull)
        pull.wait()
        assert res["docs"] == n, res
        out["pull_docs_per_s"] = n / (res["ms"] / 1000)
        out["client_pull_hwm_mb"] = res["hwm_kb"] / 1024

        live = spawn("live", str(tmp / "client" / "db"), url)
        read_json(live)
        assert server.stdin is not None
        # Let the continuous replicator settle (it first compares the pulled docs).
        target = f"item-{n // 2:05d}"
        lat: list[float] = []
        seen: dict[str, int] = {}
        for i in range(nupd + 5):
            server.stdin.write(f"update {target}\n")
            server.stdin.flush()
            commit = read_json(server)
            while commit["rev"] not in seen:
                ev = read_json(live)
                seen[ev["rev"]] = ev["t"]
            if i >= 5:  # the first few warm the connection
                lat.append((seen[commit["rev"]] - commit["t"]) / 1e6)
        live.kill()
        live.wait()
        out["live_p50_ms"] = pct(lat, 50)
        out["live_p95_ms"] = pct(lat, 95)
        out["live_p99_ms"] = pct(lat, 99)
        server.stdin.write("rss\n")
        server.stdin.flush()
        out["serve_peak_rss_mb"] = read_json(server)["hwm_kb"] / 1024
        server.stdin.write("quit\n")
        server.stdin.flush()
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()

    # push: fresh source with N new docs -> fresh serving peer
    src = tmp / "pushsrc" / "db"
    subprocess.run([sys.executable, __file__, "--role", "seed", str(src), "new", str(n)],
                   check=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    dst = spawn("server", str(tmp / "pushdst" / "db"), *(["hashed"] if hashed else []),
                stdin=True)
    try:
        port = read_json(dst)["port"]
        push = spawn("client", str(src), f"ws://127.0.0.1:{port}/bench", "push", str(n))
        res = read_json(push)
        push.wait()
        out["push_docs_per_s"] = n / (res["ms"] / 1000)
        assert dst.stdin is not None
        dst.stdin.write("quit\n")
        dst.stdin.flush()
        dst.wait(timeout=30)
    finally:
        if dst.poll() is None:
            dst.kill()
    return out


def run_pouch(n: int, nupd: int, runs: int) -> dict[str, float] | None:
    if not ANCHOR.is_dir() or shutil.which("npm") is None:
        print(f"(no PouchDB anchor at {ANCHOR} or no npm: skipping it)")
        return None
    work = Path(tempfile.mkdtemp(prefix="pouch-anchor-")) / "pouchdb"
    shutil.copytree(ANCHOR, work)
    for p in work.rglob("*"):
        p.chmod(p.stat().st_mode | 0o200)
    work.chmod(0o755)
    subprocess.run(["npm", "install", "--silent"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "pouch_bench.py"], cwd=work, check=True,
                   stdout=subprocess.DEVNULL,
                   env=dict(os.environ, POUCH_N=str(n), POUCH_NUPD=str(nupd), RUNS=str(runs)))
    s = json.loads((work / "results" / "pouch_summary.json").read_text())
    return {
        "pull_docs_per_s": s["pull_docs_per_s"]["median"],
        "push_docs_per_s": s["push_docs_per_s"]["median"],
        "live_p50_ms": s["latency_gap0_commit_to_visible_ms_p50"]["median"],
        "live_p95_ms": s["latency_gap0_commit_to_visible_ms_p95"]["median"],
        "live_p99_ms": s["latency_gap0_commit_to_visible_ms_p99"]["median"],
        "serve_peak_rss_mb": s["server_peak_rss_mb"]["median"],
    }


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--role":
        role, *rest = sys.argv[2:]
        {"seed": lambda: role_seed(rest[0], rest[1], int(rest[2])),
         "server": lambda: role_server(rest[0], rest[1:] == ["hashed"]),
         "client": lambda: role_client(rest[0], rest[1], rest[2], int(rest[3])),
         "live": lambda: role_live(rest[0], rest[1])}[role]()
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--updates", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-pouch", action="store_true")
    ap.add_argument("--hashed-login", action="store_true",
                    help="a scrypt allowlist entry for the bench user (one scrypt a run)")
    args = ap.parse_args()
    results = []
    for k in range(args.runs):
        tmp = Path(tempfile.mkdtemp(prefix="listsync-syncbench-"))
        try:
            r = one_run(tmp, args.n, args.updates, args.hashed_login)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        print(f"listsync run {k + 1}: " + ", ".join(f"{key} {v:.2f}" for key, v in r.items()),
              flush=True)
        results.append(r)
    ours = {k: statistics.median(r[k] for r in results) for k in results[0]}
    pouch = None if args.no_pouch else run_pouch(args.n, args.updates, args.runs)
    print(f"\n{'figure (median of runs)':28s} {'listsync':>10s} {'pouchdb':>10s} {'ratio':>8s}")
    for key, value in ours.items():
        if pouch and key in pouch:
            better = "x faster" if "per_s" in key else "x (lower is better)"
            ratio = value / pouch[key] if "per_s" in key else value / pouch[key]
            print(f"{key:28s} {value:10.2f} {pouch[key]:10.2f} {ratio:8.2f} {better}")
        else:
            print(f"{key:28s} {value:10.2f}")


if __name__ == "__main__":
    main()
