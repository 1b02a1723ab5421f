"""The server's websocket receive path alone: wsproto vs our FrameReader.

python tests/bench/ws_read.py [--size 1048576] [--chunk 262144] [--trials 7]
Feeds the same masked message, cut into socket-sized reads, through a server-side
wsproto connection (events joined as ServerChannel did) and through `FrameReader`,
interleaved; prints the best and median CPU µs per KB of each and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--chunk", type=int, default=256 * 1024)
    ap.add_argument("--trials", type=int, default=7)
    ap.add_argument("--reps", type=int, default=20)
    args = ap.parse_args()
    message = os.urandom(args.size)
    frame = masked_frame(message)
    reads = [frame[i:i + args.chunk] for i in range(0, len(frame), args.chunk)]
    ws = wsproto_server()
    reader = FrameReader(args.size)

    def old() -> bytes:
        parts: list[bytes] = []
        for data in reads:
            ws.receive_data(data)
            parts.extend(e.data for e in ws.events() if isinstance(e, BytesMessage))
        return b"".join(parts)

    def new() -> bytes:
        got = b""
        for data in reads:
            for event in reader.feed(data):
                if isinstance(event, Message):
                    got = event.data
        return got

    assert old() == message and new() == message
    times: dict[str, list[float]] = {"wsproto": [], "FrameReader": []}
    runs: dict[str, Callable[[], bytes]] = {"wsproto": old, "FrameReader": new}
    for _ in range(args.trials):
        for name, run in runs.items():
            start = time.process_time()
            for _ in range(args.reps):
                run()
            times[name].append((time.process_time() - start) / args.reps / (args.size / 1024))
    for name, t in times.items():
        print(f"{name:12s} best {min(t) * 1e6:6.3f}  median {statistics.median(t) * 1e6:6.3f}"
              f"  µs/KB  ({args.size} B message, {args.chunk} B reads, {args.trials} trials)")
    ratio = statistics.median(times["FrameReader"]) / statistics.median(times["wsproto"])
    print(f"FrameReader / wsproto (medians): {ratio:.2f}")


if __name__ == "__main__":
    main()
