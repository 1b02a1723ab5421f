"""Soak (not a test): K `listsync` peers as processes for M minutes — one hub
(`serve`), the others `sync --continuous` to it, each through its own fault proxy —
with random `adjust` edits, SIGKILL restarts and proxy faults. At the end: did the
inventories converge to the sum of all edits, RSS over time, open fds, sync lag.

    /work/venv/bin/python -m tests.bench.soak --minutes 10 --peers 4
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import subprocess
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio

from engine import open_list_db, read_list
from engine.inventory import items_view
from tests.faults.proxy import FaultProxy
from tests.faults.rig import (
    data_args,
    open_fds,
    rss_kib,
    start_serve,
)
from tests.helpers import cli_command, cli_env

HEARTBEAT = "2"


def _inventory(data_dir: Path) -> dict[str, int]:
    with open_list_db(data_dir, "bob") as db:
        return {row["key"]: row["value"] for row in items_view(read_list(db))}


class Soak:
    def __init__(self, root: Path, peers: int, seed: int) -> None:
        self.root = root
        self.rng = random.Random(seed)
        self.dirs = [root / f"peer{i}" for i in range(peers)]
        self.syncs: dict[int, subprocess.Popen[str]] = {}
        self.proxies: list[FaultProxy] = []
        self.expected: dict[str, int] = {}
        self.samples: list[dict[str, Any]] = []
        self.counts = {"edits": 0, "restarts": 0, "faults": 0}

    def start_sync(self, i: int) -> None:
        port = self.proxies[i - 1].port
        self.syncs[i] = subprocess.Popen(
            cli_command(*data_args(self.dirs[i]), "sync", f"ws://127.0.0.1:{port}/userdb",
                        "--continuous", "--heartbeat", HEARTBEAT),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
            env=cli_env(LISTSYNC_PASSWORD="password"))

    def edit(self) -> None:
        i = self.rng.randrange(len(self.dirs))
        item = self.rng.choice(sorted(self.expected))
        delta = self.rng.choice([-3, -1, 1, 2, 5])
        done = subprocess.run(cli_command(*data_args(self.dirs[i]), "adjust", item, str(delta)),
                              capture_output=True, text=True, env=cli_env(), timeout=60)
        if done.returncode == 0:  # acknowledged: it must survive everything that follows
            self.expected[item] += delta
            self.counts["edits"] += 1

    def sample(self, started: float, hub: subprocess.Popen[str]) -> None:
        pids = {"hub": hub.pid} | {f"peer{i}": p.pid for i, p in self.syncs.items()}
        row: dict[str, Any] = {"minute": round((time.monotonic() - started) / 60, 2)}
        for name, pid in pids.items():
            try:
                row[name] = (rss_kib(pid), open_fds(pid))
            except OSError:
                row[name] = None
        self.samples.append(row)

    def prepare(self) -> None:
        for d in self.dirs:  # every peer creates its own database (sample list)
            subprocess.run(cli_command(*data_args(d), "items"), capture_output=True,
                           env=cli_env(), check=True)
        self.expected = _inventory(self.dirs[0])

    async def run(self, minutes: float) -> dict[str, Any]:
        hub, hub_port = start_serve(self.dirs[0], heartbeat=float(HEARTBEAT))
        try:
            async with AsyncExitStack() as stack:
                for _ in self.dirs[1:]:
                    proxy = FaultProxy(hub_port, seed=self.rng.randrange(10**6))
                    self.proxies.append(await stack.enter_async_context(proxy))
                for i in range(1, len(self.dirs)):
                    self.start_sync(i)
                started = time.monotonic()
                next_sample = started
                while time.monotonic() - started < minutes * 60:
                    if time.monotonic() >= next_sample:
                        self.sample(started, hub)
                        next_sample += 15
                    roll = self.rng.random()
                    if roll < 0.6:
                        await anyio.to_thread.run_sync(self.edit)
                    elif roll < 0.75:
                        i = self.rng.randrange(1, len(self.dirs))
                        self.syncs[i].send_signal(signal.SIGKILL)
                        self.syncs[i].wait()
                        self.start_sync(i)
                        self.counts["restarts"] += 1
                    else:
                        self._fault(self.rng.choice(self.proxies))
                    await anyio.sleep(self.rng.uniform(0.2, 1.5))
                for proxy in self.proxies:
                    proxy.clear()
                await self.proxies[0].reset_all()  # a last cut, then all clear
                self.sample(started, hub)
                lag = await self._converge()
                self.sample(started, hub)
        finally:
            for proc in [hub, *self.syncs.values()]:
                proc.terminate()
                proc.wait()
        return self._report(minutes, lag)

    def _fault(self, proxy: FaultProxy) -> None:
        proxy.clear()
        kind = self.rng.choice(["latency", "bandwidth", "stall", "cut", "reset", "clear"])
        if kind == "latency":
            proxy.latency, proxy.jitter = 0.1, 0.05
        elif kind == "bandwidth":
            proxy.bandwidth = 20_000
        elif kind == "stall":
            proxy.stall = True
        elif kind == "cut":
            proxy.cut_after = self.rng.randrange(200, 20_000)
        elif kind == "reset":
            proxy.reset_new = True
        self.counts["faults"] += kind != "clear"

    async def _converge(self) -> float | None:
        """Seconds until every peer shows the expected inventory (None: not in 120 s)."""
        begun = time.monotonic()
        while time.monotonic() - begun < 120:
            views = [await anyio.to_thread.run_sync(_inventory, d) for d in self.dirs]
            if all(v == self.expected for v in views):
                return time.monotonic() - begun
            await anyio.sleep(0.25)
        return None

    def _report(self, minutes: float, lag: float | None) -> dict[str, Any]:
        hub = [(s["minute"], s["hub"][0]) for s in self.samples if s.get("hub")]
        slope = _slope(hub[len(hub) // 4:])  # past the warm-up
        views = [_inventory(d) for d in self.dirs]
        return {
            "minutes": minutes, "peers": len(self.dirs), **self.counts,
            "converged": lag is not None, "sync_lag_s": None if lag is None else round(lag, 2),
            "lost_or_wrong_items": sum(v != self.expected for v in views),
            "hub_rss_kib": [r for _, r in hub], "hub_rss_slope_kib_per_min": round(slope, 1),
            "fds_at_end": {k: v[1] for k, v in self.samples[-1].items()
                           if isinstance(v, tuple)},
        }


def _slope(points: list[tuple[float, int]]) -> float:
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--peers", type=int, default=4, choices=range(3, 6))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="listsync-soak-") as tmp:
        soak = Soak(Path(tmp), args.peers, args.seed)
        soak.prepare()
        report = anyio.run(soak.run, args.minutes)
    print(json.dumps(report, indent=1))  # noqa: T201 - a script's report
    raise SystemExit(0 if report["converged"] and not report["lost_or_wrong_items"] else 1)


if __name__ == "__main__":
    main()
