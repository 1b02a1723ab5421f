"""`listsync serve`: the passive peer, headless.

When ready it prints one line, `listening <url> fingerprint=<sha256 hex or ->`,
to stdout (scripts wait for it); SIGTERM or SIGINT stop it cleanly: clients
are told ("going away"), in-flight writes finish, the journal is closed.
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
from typing import Any

import anyio

from engine import EngineError, ListenOptions, UsageError, make_listener
from tui.commands._settings import fill_listener_args
from tui.commands._tls_common import add_listener_tls_args, data_dir_of, listener_tls_from_args
from tui.commands.items import open_db


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="passive peer: listen for replicators (headless)")
    p.add_argument("--host", metavar="H", help="address to listen on (default: all interfaces)")
    p.add_argument("--port", metavar="N", type=int,
                   help="port to listen on (default 0: the OS picks one)")
    add_listener_tls_args(p, from_settings=True)
    p.add_argument("--no-advertise", action="store_true",
                   help="do not advertise this listener on the LAN (mDNS)")
    p.add_argument("--name", metavar="NAME",
                   help="the advertised instance name (default: user@host)")
    p.add_argument("--read-only", action="store_true", help="refuse pushes from clients")
    p.add_argument("--no-delta", action="store_true", help="always send whole revisions")
    p.add_argument("--heartbeat", metavar="S", type=float,
                   help="seconds between websocket pings (default 15)")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    fill_listener_args(args)  # flags left out come from the settings file
    if not 0 <= args.port <= 65535:
        raise UsageError(f"Port {args.port} is out of range (0-65535).")
    if args.heartbeat <= 0:
        raise UsageError("--heartbeat must be a positive number of seconds.")
    ssl_context, identity, client_auth = listener_tls_from_args(args)
    db = open_db(args)
    try:
        options = ListenOptions(host=args.host, port=args.port, read_only=args.read_only,
                                deltas=not args.no_delta, heartbeat=args.heartbeat)
        listener = make_listener(db, args.db, data_dir=data_dir_of(args),
                                 ssl_context=ssl_context, options=options,
                                 client_auth=client_auth)
        fingerprint = identity.fingerprint if identity is not None else "-"

        async def main() -> None:
            # Signals are caught from before the ready line, so a script that stops us as
            # soon as it reads that line still gets a clean stop.
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                await serve(signals)

        async def serve(signals: Any) -> None:
            async with anyio.create_task_group() as tg:
                await tg.start(listener.serve)
                urls = [url + args.db for url in listener.urls]
                print(f"listening {urls[0]} fingerprint={fingerprint}", flush=True)
                for url in urls[1:]:
                    print(f"listsync: also listening at {url}", file=sys.stderr)
                if not args.no_advertise:
                    tg.start_soon(_advertise, args, db.uuid, listener.port or 0,
                                  identity.fingerprint if identity is not None else None)
                if args.tls == "disabled":
                    print("listsync: warning: TLS is disabled; passwords and data cross the "
                          "network in the clear.", file=sys.stderr)
                async for _ in signals:
                    break
                await listener.stop()
                tg.cancel_scope.cancel()

        anyio.run(main)
    finally:
        db.close()
    return 0


async def _advertise(args: argparse.Namespace, peer_id: str, port: int,
                     fingerprint: str | None) -> None:
    """Advertise until cancelled; a LAN without multicast only costs a warning."""
    from engine import Advertiser  # zeroconf loads only when advertising

    name = args.name or f"{args.user}@{socket.gethostname().split('.')[0]}"
    try:
        async with Advertiser(port=port, peer_id=peer_id, db=args.db, tls=args.tls,
                              fingerprint=fingerprint, name=name) as advert:
            print(f"listsync: advertising as {advert.name!r} on the LAN", file=sys.stderr)
            await anyio.sleep_forever()
    except (EngineError, OSError) as err:
        print(f"listsync: warning: not advertising on the LAN: {err}", file=sys.stderr)
