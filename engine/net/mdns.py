"""Peer discovery on the LAN (mDNS/DNS-SD): the names in one place, and a standalone tool.

`engine/__init__.py` imports the parts directly so that `python -m` runs this
module without it being imported twice.

    python -m engine.net.mdns advertise --port N [--name X] [--id ID] [--txt k=v ...]
    python -m engine.net.mdns browse [--timeout S] [--id OWN_ID]

`advertise` prints "advertising <name> mode=<interface mode> ..." once
announced, and sends goodbyes on SIGTERM/SIGINT. `browse` prints one JSON
object per event (with a monotonic timestamp) as it happens.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
import uuid
from collections.abc import Sequence

import anyio

from engine.net.advertise import HOST_TTL, OTHER_TTL, Advertiser, default_instance_name
from engine.net.browse import Browser, browse_once
from engine.net.interfaces import MulticastCheck, multicast_available
from engine.net.peers import (
    SERVICE_TYPE,
    DiscoveredPeer,
    ManualPeer,
    ManualPeers,
    PeerAppeared,
    PeerChanged,
    PeerEvent,
    PeerLeft,
    fingerprint_hint_mismatch,
    merged_peers,
)
from engine.net.zc import InterfaceSpec

__all__ = [
    "HOST_TTL", "OTHER_TTL", "SERVICE_TYPE", "Advertiser", "Browser", "DiscoveredPeer",
    "ManualPeer", "ManualPeers", "MulticastCheck", "PeerAppeared", "PeerChanged", "PeerEvent",
    "PeerLeft", "browse_once", "default_instance_name", "fingerprint_hint_mismatch",
    "merged_peers", "multicast_available",
]


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _interfaces(values: list[str] | None) -> InterfaceSpec:
    if values == ["default"]:
        return "default"
    return values


async def _advertise(args: argparse.Namespace) -> int:
    txt = dict(item.split("=", 1) for item in args.txt)
    known = {k: txt.pop(k) for k in ("db", "tls", "fp", "pv") if k in txt}
    adv = Advertiser(
        port=args.port, peer_id=args.id or txt.pop("id", None) or uuid.uuid4().hex,
        name=args.name, db=known.get("db", "userdb"), tls=known.get("tls", "anonymous"),
        fingerprint=known.get("fp"), protocol_version=known.get("pv", "1"), extra_txt=txt,
        interfaces=_interfaces(args.interface), host_ttl=args.ttl,
        poll_interval=args.poll_interval,
    )
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with adv:
            _print(f"advertising {adv.name} mode={adv.interface_mode} "
                   f"addresses={','.join(adv.addresses)} port={adv.port} id={adv.peer_id}")
            reannounced = 0
            with anyio.move_on_after(None) as scope:
                async with anyio.create_task_group() as tg:
                    async def watch_signals() -> None:
                        async for _ in signals:
                            scope.cancel()

                    tg.start_soon(watch_signals)
                    while True:  # report re-announcements for tests to wait on
                        await anyio.sleep(0.2)
                        if adv.reannounced != reannounced:
                            reannounced = adv.reannounced
                            _print(f"reannounced addresses={','.join(adv.addresses)}")
        _print("stopped")
    return 0


async def _browse(args: argparse.Namespace) -> int:
    start = time.monotonic()
    async with Browser(own_peer_id=args.id, interfaces=_interfaces(args.interface)) as browser:
        _print(json.dumps({"event": "started", "mode": browser.interface_mode}))
        with anyio.move_on_after(args.timeout):
            async for event in browser:
                kind = type(event).__name__
                _print(json.dumps({"event": kind, "t": round(time.monotonic() - start, 3),
                                   "peer": event.peer.to_json()}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m engine.net.mdns")
    sub = parser.add_subparsers(dest="command", required=True)
    adv = sub.add_parser("advertise", help="advertise a listener until SIGTERM")
    adv.add_argument("--port", type=int, required=True)
    adv.add_argument("--name", default=None)
    adv.add_argument("--id", default=None, help="peer id (default: random)")
    adv.add_argument("--txt", action="append", default=[], metavar="K=V")
    adv.add_argument("--ttl", type=int, default=HOST_TTL, help="host record TTL, seconds")
    adv.add_argument("--poll-interval", type=float, default=3.0)
    adv.add_argument("--interface", action="append", metavar="NAME|ADDR|default")
    br = sub.add_parser("browse", help="print peer events as JSON lines")
    br.add_argument("--timeout", type=float, default=None)
    br.add_argument("--id", default=None, help="our own peer id, to be left out")
    br.add_argument("--interface", action="append", metavar="NAME|ADDR|default")
    args = parser.parse_args(argv)
    run = _advertise if args.command == "advertise" else _browse
    result: int = anyio.run(run, args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
