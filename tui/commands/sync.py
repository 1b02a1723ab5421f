"""`listsync sync URL`: the active peer, headless.

One-shot by default: exits 0 once caught up both ways. `--continuous` keeps
syncing (and reconnecting with backoff) until SIGTERM/SIGINT. The password
comes from $LISTSYNC_PASSWORD, --password-file, or a prompt on a terminal.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import anyio

from engine import (
    Activity,
    EngineError,
    Mode,
    Replicator,
    ReplicatorConfig,
    RetryPolicy,
    UsageError,
    make_connector,
    split_url,
)
from tui.commands._passwords import read_password
from tui.commands._settings import fill_replicator_args
from tui.commands._tls_common import add_replicator_tls_args, replicator_tls_from_args
from tui.commands.items import open_db


def register(sub: Any) -> None:
    p = sub.add_parser("sync", help="active peer: replicate with a listener (headless)")
    p.add_argument("url", metavar="URL", help="the listener, like wss://host:port/userdb")
    direction = p.add_mutually_exclusive_group()
    direction.add_argument("--push-only", action="store_true", help="only send our changes")
    direction.add_argument("--pull-only", action="store_true", help="only fetch theirs")
    p.add_argument("--continuous", action="store_true",
                   help="keep syncing until stopped (default: exit once caught up)")
    add_replicator_tls_args(p, from_settings=True)
    p.add_argument("--password-file", metavar="FILE", help="first line: the password")
    p.add_argument("--retries", metavar="N", type=int, default=None,
                   help="give up after N failed attempts in a row "
                        "(default: 3 one-shot, never with --continuous)")
    p.add_argument("--heartbeat", metavar="S", type=float,
                   help="seconds between websocket pings (default 15)")
    p.set_defaults(func=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    fill_replicator_args(args)  # flags left out come from the settings file
    if not args.user:
        raise UsageError("The sync command needs --user NAME (the local database and the login).")
    host, port, tls, _db = split_url(args.url)
    if args.heartbeat <= 0:
        raise UsageError("--heartbeat must be a positive number of seconds.")
    retries = args.retries if args.retries is not None else (0 if args.continuous else 3)
    if retries < 0:
        raise UsageError("--retries must be 0 (never give up) or more.")
    if not tls and (args.pinned_cert or args.ca_file or args.client_identity
                    or args.validation in ("ca", "pinned")):
        # The user meant to check the peer; over ws:// nothing would be checked and the
        # password would go in the clear to whoever answers.
        raise UsageError(f"--validation {args.validation} and its certificate files need a "
                         f"wss:// URL, not {args.url}.")
    password = read_password(args.password_file)
    client_tls = replicator_tls_from_args(args, host, port) if tls else None
    if not tls:
        print("listsync: warning: ws:// is not encrypted; use wss:// where the listener has TLS.",
              file=sys.stderr)
    mode = Mode.PUSH if args.push_only else Mode.PULL if args.pull_only else Mode.PUSH_AND_PULL
    config = ReplicatorConfig(mode=mode, continuous=args.continuous, heartbeat=args.heartbeat,
                              retry=RetryPolicy(max_attempts=retries))
    connector = make_connector(args.url, username=args.user, password=password,
                               tls=client_tls, heartbeat=args.heartbeat)
    db = open_db(args)
    try:
        replicator = Replicator(db, connector, config)
        anyio.run(_replicate, replicator)
        status = replicator.status
        print(f"synced {args.url}: {status.done} revisions transferred", flush=True)
        if status.error is not None:  # a partial success, like a read-only peer's pull
            print(f"listsync: warning: {status.error}", file=sys.stderr)
    finally:
        db.close()
    return 0


async def _replicate(replicator: Replicator) -> None:
    failure: EngineError | None = None
    async with anyio.create_task_group() as tg:
        async def watch_signals() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    await replicator.stop()
                    return

        async def report() -> None:
            last: Activity | None = None
            warned = False
            async with replicator.events() as events:
                async for event in events:
                    activity = getattr(event, "activity", None)
                    if activity is not None and activity is not last:
                        last = activity
                        error = getattr(event, "error", None)
                        if activity is Activity.OFFLINE and isinstance(error, EngineError):
                            print(f"listsync: offline, will retry: {error}", file=sys.stderr)
                        elif activity is Activity.IDLE and error is not None and not warned \
                                and replicator.config.continuous:  # one-shot: said at the end
                            warned = True  # connected, yet one half refused: say it once
                            print(f"listsync: warning: {error}", file=sys.stderr)

        tg.start_soon(watch_signals)
        tg.start_soon(report)
        try:
            await replicator.run()
        except EngineError as err:
            failure = err  # raised outside the task group, so it is not wrapped in a group
        finally:
            tg.cancel_scope.cancel()
    if failure is not None:
        raise failure
