"""`listsync identity show|replace`: the listener's generated TLS identity.

`show` creates the identity if there is none yet (as `serve --tls generated`
would), so its fingerprint can be handed to peers before the first serve.
"""

from __future__ import annotations

import argparse
import sys

from engine import generated_identity, generated_paths, replace_generated_identity
from tui.commands._tls_common import data_dir_of


def _show(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    private, public = generated_paths(data_dir)
    existed = private.exists()
    identity = generated_identity(data_dir)
    if not existed:
        print(f"Created a new listener identity in {private.parent}.", file=sys.stderr)
    if args.pem:
        sys.stdout.write(identity.cert_pem.decode("ascii"))
        return 0
    print(f"fingerprint: {identity.fingerprint}")
    print(f"SHA-256:     {identity.pretty_fingerprint}")
    print(f"certificate: {public}")
    print(f"expires:     {identity.certificate.not_valid_after_utc:%Y-%m-%d}")
    return 0


def _replace(args: argparse.Namespace) -> int:
    data_dir = data_dir_of(args)
    private, _ = generated_paths(data_dir)
    old = generated_identity(data_dir).pretty_fingerprint if private.exists() else None
    new = replace_generated_identity(data_dir)
    if old:
        print(f"old SHA-256: {old}")
    print(f"new SHA-256: {new.pretty_fingerprint}")
    print("Peers that pinned or remembered the old certificate will refuse this listener "
          "until they pin the new one or run `listsync trust forget HOST:PORT`.", file=sys.stderr)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "identity", help="show or replace the listener's generated TLS identity",
        description="The self-signed identity used by `serve --tls generated`, kept in "
                    "<data dir>/tls/ (key file mode 0600).")
    actions = parser.add_subparsers(dest="identity_action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="print its fingerprint (creates it if absent)")
    show.add_argument("--pem", action="store_true", help="print the certificate (PEM) instead")
    show.set_defaults(func=_show)
    replace = actions.add_parser("replace", help="make a new identity in place of the old one")
    replace.set_defaults(func=_replace)
