"""Websocket transport throughput on loopback (a measurement, not a test).

Run: /work/venv/bin/python -m tests.bench.ws_throughput [--seconds S] [--tls]
Prints messages/s and MB/s for 1 KiB and 256 KiB frames, client→server and
server→client, through the real Listener (in a child process) and the
httpx-ws connector.
"""

from __future__ import annotations

import argparse
import struct
import subprocess
import sys
import time

import anyio

from engine.sync.listener import Listener
from engine.sync.wsclient import ClientChannel, connect
from engine.sync.wsserver import ServerChannel
from tests.helpers import cli_env


async def _allow(user: str, password: str, host: str) -> bool:
    return True


async def _bench_handler(channel: ServerChannel, db: str) -> None:
    """First frame: direction, count, size. c2s: count frames in, ack. s2c: send them."""
    while True:
        header = await channel.receive()
        direction, count, size = header[:3], *struct.unpack("!II", header[3:11])
        if direction == b"c2s":
            for _ in range(count):
                await channel.receive()
            await channel.send(b"done")
        else:
            payload = b"s" * size
            for _ in range(count):
                await channel.send(payload)


async def _serve(tls: bool) -> None:
    """The listener side, run in its own process so both ends get a CPU."""
    ssl_context = None
    if tls:
        from tests.transport.support import make_identity

        ssl_context = make_identity().server_context()
    listener = Listener(_bench_handler, authenticate=_allow, databases={"bench"},
                        host="127.0.0.1", ssl_context=ssl_context)
    async with anyio.create_task_group() as tg:
        await tg.start(listener.serve)
        print(listener.urls[0] + "bench", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.read)  # until the parent closes stdin
        await listener.stop()


async def _measure(channel: ClientChannel, direction: bytes, size: int, count: int) -> float:
    start = time.perf_counter()
    await channel.send(direction + struct.pack("!II", count, size))
    if direction == b"c2s":
        payload = b"c" * size
        for _ in range(count):
            await channel.send(payload)
        assert await channel.receive() == b"done"
    else:
        for _ in range(count):
            await channel.receive()
    return count / (time.perf_counter() - start)


async def _run(url: str, seconds: float, tls: bool) -> None:
    kw = {"verify_server_cert": lambda der: None} if tls else {}
    async with connect(url, username="bench", password="x", **kw) as channel:
        for size in (1024, 256 * 1024):
            for direction in (b"c2s", b"s2c"):
                # A short run to calibrate, then one sized to last about `seconds`.
                rate = await _measure(channel, direction, size, 20)
                count = max(20, int(rate * seconds))
                rate = await _measure(channel, direction, size, count)
                name = "client→server" if direction == b"c2s" else "server→client"
                print(f"{size // 1024:>4} KiB {name}: {rate:9.0f} msg/s "
                      f"{rate * size / 1e6:8.1f} MB/s  ({count} messages)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        anyio.run(_serve, args.tls)
        return
    server = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.ws_throughput", "--serve",
         *(["--tls"] if args.tls else [])],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=cli_env(),
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        anyio.run(_run, server.stdout.readline().strip(), args.seconds, args.tls)
    finally:
        server.stdin.close()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
