"""`listsync trust list|add|forget`: listener certificates trusted by `--validation tofu`.

`add` pre-seeds a fingerprint checked by eye, so even the first connection is verified.
"""

from __future__ import annotations

import argparse
import sys

from engine import TrustStore, normalize_fingerprint, parse_peer, peer_key, pretty_fingerprint
from tui.commands._tls_common import data_dir_of


def _list(args: argparse.Namespace) -> int:
    for peer, fp in TrustStore.for_data_dir(data_dir_of(args)).entries().items():
        print(f"{peer}\t{pretty_fingerprint(fp)}")
    return 0


def _forget(args: argparse.Namespace) -> int:
    peer = peer_key(*parse_peer(args.peer))
    if not TrustStore.for_data_dir(data_dir_of(args)).forget(peer):
        print(f"listsync: {peer} was not remembered.", file=sys.stderr)
        return 1
    print(f"Forgot the certificate of {peer}; the next sync to it trusts what it presents.")
    return 0


def _add(args: argparse.Namespace) -> int:
    peer = peer_key(*parse_peer(args.peer))
    fp = normalize_fingerprint(args.fingerprint)
    TrustStore.for_data_dir(data_dir_of(args)).set(peer, fp)
    print(f"Trusting {peer} with SHA-256 {pretty_fingerprint(fp)}.")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "trust", help="listener certificates remembered on first use (tofu)",
        description="Kept in <data dir>/known_peers, one `host:port sha256` a line.")
    actions = parser.add_subparsers(dest="trust_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="show remembered peers").set_defaults(func=_list)
    add = actions.add_parser(
        "add", help="trust a fingerprint read off the listener (`listsync identity show`)")
    add.add_argument("peer", metavar="HOST:PORT")
    add.add_argument("fingerprint", metavar="SHA256", help="hex, with or without colons")
    add.set_defaults(func=_add)
    forget = actions.add_parser("forget", help="forget a peer's certificate")
    forget.add_argument("peer", metavar="HOST:PORT")
    forget.set_defaults(func=_forget)
