"""`listsync peers`: list listeners on the LAN (mDNS) and the peers added by hand."""

from __future__ import annotations

import argparse
import json
import sys

import anyio

from engine import (
    DiscoveredPeer,
    ManualPeers,
    NetworkError,
    TrustStore,
    UsageError,
    browse_once,
    fingerprint_hint_mismatch,
    merged_peers,
    multicast_available,
    peer_key,
)
from tui.commands._tls_common import data_dir_of

_EPILOG = """\
examples:
  listsync peers                    browse 3 s, one line per peer
  listsync peers --json --timeout 5 the same as a JSON list
  listsync peers add 10.0.0.7:4984  remember a peer for networks that block multicast
  listsync peers forget 10.0.0.7:4984

exit status: 0 ok (also when no peer is found), 5 multicast does not work here.
Manual peers live in <data dir>/manual_peers.json.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "peers", help="browse the LAN for listeners",
        description="Browse the LAN for listsync listeners (mDNS/DNS-SD) and list them "
                    "together with peers added by hand.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--timeout", type=float, default=3.0, metavar="S",
                        help="how long to browse, in seconds (default 3)")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--interface", action="append", metavar="NAME|ADDR",
                        help="browse only on this interface (repeatable)")
    sub = parser.add_subparsers(dest="peers_action", metavar="{add,forget}")
    add = sub.add_parser("add", help="remember a peer by address (HOST:PORT)")
    add.add_argument("endpoint", metavar="HOST:PORT")
    forget = sub.add_parser("forget", help="forget a peer added by address")
    forget.add_argument("endpoint", metavar="HOST:PORT")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    manual = ManualPeers(data_dir_of(args))
    if args.peers_action == "add":
        added = manual.add(args.endpoint)
        print(f"added {args.endpoint}" if added else f"{args.endpoint} was already added")
        return 0
    if args.peers_action == "forget":
        removed = manual.remove(args.endpoint)
        print(f"forgot {args.endpoint}" if removed else f"{args.endpoint} was not added")
        return 0
    if args.timeout < 0:
        raise UsageError("The timeout must not be negative.")
    remembered = manual.list()
    check = multicast_available(args.interface)
    found: list[DiscoveredPeer] = []
    if check:
        found = anyio.run(lambda: browse_once(args.timeout, interfaces=args.interface))
    peers = merged_peers(found, remembered)
    trust = TrustStore.for_data_dir(data_dir_of(args))
    # Adverts are unauthenticated: a fingerprint unlike the one tofu remembered is only
    # flagged here; the TLS handshake of `sync --validation tofu` is what refuses it.
    suspicious = {id(p) for p in peers
                  if fingerprint_hint_mismatch(p, trust.get(peer_key(p.address, p.port)))}
    if args.json:
        print(json.dumps([dict(p.to_json(), fingerprint_mismatch=id(p) in suspicious)
                          for p in peers], indent=1))
    else:
        for peer in peers:
            warning = ("  ! fingerprint differs from the one trusted on first use"
                       if id(peer) in suspicious else "")
            print(_line(peer) + warning)
    if not check:
        print(f"listsync: {check.reason}", file=sys.stderr)
        return NetworkError.exit_code
    if not peers and not args.json:
        print("no peers found")
    return 0


def _line(peer: DiscoveredPeer) -> str:
    if peer.source == "manual":
        return f"{peer.name}  (added by hand)"
    where = f"[{peer.address}]" if ":" in peer.address else peer.address
    fp = (peer.fingerprint or "-")[:16]
    return (f"{peer.name}  {where}:{peer.port}  db={peer.db or '-'}  "
            f"tls={peer.tls or '-'}  fp={fp}")
