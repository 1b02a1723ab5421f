"""Replication throughput on loopback (a measurement, not a test).

Run: /work/venv/bin/python -m tests.bench.sync_profile [--docs N] [--memory]
Pulls then pushes N ~1 KB documents between two fresh databases: over the real
websocket Listener (server in a child process) or, with --memory, in process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio

from engine.store import Database
from engine.sync.channel import MessageChannel, memory_channel_pair
from engine.sync.config import Mode, ReplicatorConfig
from engine.sync.listener import Listener
from engine.sync.replicator import Replicator
from engine.sync.server_session import serve_peer
from engine.sync.wsclient import connect
from engine.sync.wsserver import ServerChannel
from tests.helpers import cli_env


def fill(db: Database, n: int, prefix: str) -> None:
    filler = "x" * 900
    for start in range(0, n, 1000):
        db.save_many([(f"{prefix}-{i:06d}", {"type": "item", "n": i, "text": filler}, None)
                      for i in range(start, min(n, start + 1000))])


async def _allow(user: str, password: str, host: str) -> bool:
    return True


async def _serve(path: str) -> None:
    db = Database.open(Path(path))

    async def handler(channel: ServerChannel, _db: str) -> None:
        await serve_peer(channel, db)

    listener = Listener(handler, authenticate=_allow, databases={"bench"}, host="127.0.0.1")
    async with anyio.create_task_group() as tg:
        await tg.start(listener.serve)
        print(listener.urls[0] + "bench", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)
        await listener.stop()
        tg.cancel_scope.cancel()
    db.close()
    print(f"server process used {time.process_time():.2f} CPU s in all", file=sys.stderr)


async def _timed(db: Database, connect_fn: object, mode: Mode, n: int, label: str) -> None:
    rep = Replicator(db, connect_fn, ReplicatorConfig(mode=mode))  # type: ignore[arg-type]
    start, cpu = time.perf_counter(), time.process_time()
    await rep.run()
    took, cpu = time.perf_counter() - start, time.process_time() - cpu
    # CPU seconds matter on a shared machine: wall time there measures the neighbours.
    print(f"{label}: {n} docs in {took:.2f} s = {n / took:,.0f} docs/s; this process used "
          f"{cpu:.2f} CPU s (transferred {rep.status.done} of {rep.status.total}; local has "
          f"{len(db.all_docs())} docs)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=10_000)
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        anyio.run(_serve, args.serve)
        return
    with tempfile.TemporaryDirectory() as tmp:
        remote = Database.open(Path(tmp) / "remote")
        fill(remote, args.docs, "remote")
        local = Database.open(Path(tmp) / "local")
        fill(local, args.docs, "local")
        if args.memory:
            anyio.run(_in_memory, local, remote, args.docs)
            return
        remote.close()
        server = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.sync_profile", "--serve",
             str(Path(tmp) / "remote")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env())
        assert server.stdin is not None and server.stdout is not None
        url = server.stdout.readline().strip()
        try:
            anyio.run(_over_websocket, local, url, args.docs)
        finally:
            server.stdin.close()
            server.wait(timeout=30)


async def _over_websocket(local: Database, url: str, n: int) -> None:
    def dial() -> object:
        return connect(url, username="bench", password="x")

    await _timed(local, dial, Mode.PULL, n, "websocket pull")
    await _timed(local, dial, Mode.PUSH, n, "websocket push")


async def _in_memory(local: Database, remote: Database, n: int) -> None:
    async with anyio.create_task_group() as tg:
        @asynccontextmanager
        async def dial() -> AsyncIterator[MessageChannel]:
            client, server = memory_channel_pair()
            tg.start_soon(serve_peer, server, remote)
            yield client
            await client.close()

        await _timed(local, dial, Mode.PULL, n, "memory pull")
        await _timed(local, dial, Mode.PUSH, n, "memory push")
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    main()
