"""`listsync trust list|forget`: listener certificates remembered by `--validation tofu`."""

from __future__ import annotations

import argparse
import sys

from engine import TrustStore, parse_peer, peer_key, pretty_fingerprint
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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "trust", help="listener certificates remembered on first use (tofu)",
        description="Kept in <data dir>/known_peers, one `host:port sha256` a line.")
    actions = parser.add_subparsers(dest="trust_action", metavar="ACTION", required=True)
    actions.add_parser("list", help="show remembered peers").set_defaults(func=_list)
    forget = actions.add_parser("forget", help="forget a peer's certificate")
    forget.add_argument("peer", metavar="HOST:PORT")
    forget.set_defaults(func=_forget)
