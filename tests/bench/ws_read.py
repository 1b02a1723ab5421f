"""The server's websocket receive path alone: wsproto vs our FrameReader.

python tests/bench/ws_read.py [--size 1048576] [--chunk 262144] [--trials 7]
Feeds the same masked message, cut into socket-sized reads, through a server-side
wsproto connection (events joined as ServerChannel did) and through `FrameReader`.
Each trial runs each reader in a fresh process, alternating (they would share the
allocator's state in one process, and page faults are much of the cost); prints the
median and range of CPU µs per KB of each and the ratio of the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage

from engine.sync.wsframe import masked_frame
from engine.sync.wsread import FrameReader, Message

_UPGRADE = [(b"host", b"bench"), (b"connection", b"Upgrade"), (b"upgrade", b"websocket"),
            (b"sec-websocket-version", b"13"), (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ==")]


def wsproto_server() -> WSConnection:
    ws = WSConnection(ConnectionType.SERVER)
    ws.initiate_upgrade_connection(_UPGRADE, "/bench")
    list(ws.events())
    ws.send(AcceptConnection())
    return ws


def one_process(which: str, size: int, chunk: int, reps: int) -> float:
    """CPU seconds per KB of `which` reading `reps` messages of `size` bytes."""
    frames = [masked_frame(os.urandom(size)) for _ in range(4)]
    reads = [[f[i:i + chunk] for i in range(0, len(f), chunk)] for f in frames]
    ws = wsproto_server()
    reader = FrameReader(size)

    def old(message: list[bytes]) -> bytes:
        parts: list[bytes] = []
        for data in message:
            ws.receive_data(data)
            parts.extend(e.data for e in ws.events() if isinstance(e, BytesMessage))
        return b"".join(parts)

    def new(message: list[bytes]) -> bytes:
        got = b""
        for data in message:
            for event in reader.feed(data):
                if isinstance(event, Message):
                    got = event.data
        return got

    run: Callable[[list[bytes]], bytes] = old if which == "wsproto" else new
    assert run(reads[0]) == old(reads[0]) if which != "wsproto" else True
    start = time.process_time()
    for k in range(reps):
        run(reads[k % 4])
    return (time.process_time() - start) / reps / (size / 1024)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--chunk", type=int, default=256 * 1024)
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--one", choices=["wsproto", "FrameReader"])
    args = ap.parse_args()
    if args.one:
        print(one_process(args.one, args.size, args.chunk, args.reps))
        return
    times: dict[str, list[float]] = {"wsproto": [], "FrameReader": []}
    for trial in range(args.trials):
        order = list(times) if trial % 2 == 0 else list(reversed(times))
        for name in order:
            out = subprocess.run(
                [sys.executable, __file__, "--one", name, "--size", str(args.size),
                 "--chunk", str(args.chunk), "--reps", str(args.reps)],
                check=True, capture_output=True, text=True, env=dict(os.environ),
            ).stdout
            times[name].append(float(out))
    for name, t in times.items():
        print(f"{name:12s} median {statistics.median(t) * 1e6:6.3f} µs/KB  (range "
              f"{min(t) * 1e6:.3f}-{max(t) * 1e6:.3f}; {args.size} B messages in {args.chunk} B"
              f" reads, {args.trials} processes each)")
    ratio = statistics.median(times["FrameReader"]) / statistics.median(times["wsproto"])
    print(f"FrameReader / wsproto (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
