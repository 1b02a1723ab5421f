"""`listsync run`: the passive and active peer together, headless, for a service.

It listens, advertises, and keeps continuous sync (reconnecting forever with
backoff) with every peer it discovers and every configured one. It logs one
line per event to stderr; SIGTERM/SIGINT stop it cleanly (clients told,
replications stopped, journal closed) and SIGHUP re-reads the settings file.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream

from engine import (
    LOG_LEVELS,
    TLS_MODES,
    ClientsChanged,
    ConfigError,
    ConnectionInfo,
    ErrorReported,
    Node,
    NodeEvent,
    NodeListenerStarted,
    NodeListenerStopped,
    NodeSettings,
    PeerDiscovered,
    PeerLost,
    ReplicationChanged,
    Settings,
    UsageError,
    load_settings,
    split_url,
)
from tui.commands._settings import settings_of
from tui.commands._tls_common import data_dir_of
from tui.commands.items import open_db

log = logging.getLogger("listsync.run")


def register(sub: Any) -> None:
    p = sub.add_parser("run", help="listen, advertise and keep syncing with peers (a service)")
    p.add_argument("--peer", metavar="URL", action="append", default=[],
                   help="also sync with this listener (repeatable; adds to [peers] urls)")
    p.add_argument("--password-file", metavar="FILE",
                   help="first line: the password for syncing with peers "
                        "(else [sync] password_file, else $LISTSYNC_PASSWORD)")
    p.add_argument("--log-level", choices=LOG_LEVELS, help="default: [log] level, else info")
    p.add_argument("--host", metavar="H", help="address to listen on (default: all)")
    p.add_argument("--port", metavar="N", type=int, help="port to listen on (0: the OS picks)")
    p.add_argument("--tls", choices=TLS_MODES, help="listener identity (default: anonymous)")
    p.add_argument("--no-advertise", action="store_true", help="do not advertise on the LAN")
    p.add_argument("--no-browse", action="store_true",
                   help="do not look for peers on the LAN (sync with configured ones only)")
    p.set_defaults(func=run_run)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything `run` does, from the settings file and the flags; compared on SIGHUP."""

    node: NodeSettings
    peers: tuple[str, ...]
    password: str | None
    auto_sync: bool
    level: str


def _first_line(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"Could not read the {what} {path}: {err.strerror}.") from err
    return text.splitlines()[0] if text else ""


def resolve(args: argparse.Namespace, s: Settings) -> RunConfig:
    """Flags over settings over defaults; ConfigError/UsageError if something is unusable."""
    node = s.node_settings()
    if s.listener_identity_password_file is not None:
        node = replace(node, identity_password=_first_line(
            s.listener_identity_password_file, "identity password file"))
    changes: dict[str, Any] = {}
    if args.host is not None:
        changes["host"] = args.host
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise UsageError(f"Port {args.port} is out of range (0-65535).")
        changes["port"] = args.port
    if args.tls is not None:
        changes["tls"] = args.tls
    if args.no_advertise:
        changes["advertise"] = False
    if args.no_browse:
        changes["browse"] = False
    node = replace(node, **changes)
    for url in args.peer:
        split_url(url)
    peers = tuple(dict.fromkeys([*s.peers_urls, *args.peer]))
    password_file = Path(args.password_file) if args.password_file else s.sync_password_file
    password = (_first_line(password_file, "password file") if password_file is not None
                else os.environ.get("LISTSYNC_PASSWORD"))
    return RunConfig(node, peers, password, s.sync_auto_sync, args.log_level or s.log_level)


def _setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"listsync[{os.getpid()}]: %(message)s"))
    logging.basicConfig(level=logging.WARNING, handlers=[handler], force=True)
    # Our own lines at the chosen level; the engine's only when debugging.
    log.setLevel(level.upper())
    logging.getLogger("engine").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)
    # anyio logs every failed TLS handshake at ERROR; one bad client is not our error.
    logging.getLogger("anyio.streams.tls").setLevel(
        logging.DEBUG if level == "debug" else logging.CRITICAL)


def run_run(args: argparse.Namespace) -> int:
    config = resolve(args, settings_of(args))
    _setup_logging(config.level)
    db = open_db(args)
    try:
        anyio.run(_main, args, db, config)
    finally:
        db.close()
    log.info("stopped; database closed")
    return 0


async def _main(args: argparse.Namespace, db: Any, config: RunConfig) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        current: RunConfig | None = config
        while current is not None:
            current = await _run_node(args, db, current, signals)


async def _run_node(args: argparse.Namespace, db: Any, config: RunConfig,
                    signals: AsyncIterator[int]) -> RunConfig | None:
    """Run one Node until a stop signal (None) or a settings change (the new config)."""
    if config.password is None and (config.peers or config.auto_sync):
        log.warning("no password (set $LISTSYNC_PASSWORD, [sync] password_file or "
                    "--password-file): listening only, not syncing with peers")
    async with Node(db, data_dir=data_dir_of(args), user=args.user,
                    password=config.password or "", db_name=args.db,
                    settings=config.node) as node:
        with node.events() as events:
            await node.start_listener()  # events wait in the stream until _follow reads them
            async with anyio.create_task_group() as tg:
                tg.start_soon(_follow, node, events, config)
                if config.password is not None:
                    for url in config.peers:
                        await node.start_sync(url)
                outcome = await _wait_for_signal(args, config, signals)
                log.info("stopping: telling clients, stopping replications" if outcome is None
                         else "settings changed: restarting the listener and replications")
                tg.cancel_scope.cancel()
    return outcome


async def _wait_for_signal(args: argparse.Namespace, config: RunConfig,
                           signals: AsyncIterator[int]) -> RunConfig | None:
    async for signum in signals:
        if signum != signal.SIGHUP:
            log.info("received %s", signal.Signals(signum).name)
            return None
        try:
            new = resolve(args, load_settings(args.config))
        except (ConfigError, UsageError) as err:
            log.error("SIGHUP: settings not reloaded, keeping the current ones: %s", err)
            continue
        if new == config:
            log.info("SIGHUP: settings reloaded, nothing changed")
            continue
        _setup_logging(new.level)
        return new
    return None


async def _follow(node: Node, events: ObjectReceiveStream[NodeEvent], config: RunConfig) -> None:
    """Log each event as one line, and start syncing with peers as they appear."""
    clients: dict[int, ConnectionInfo] = {}
    activity: dict[str, str] = {}
    discovered: dict[str, str] = {}  # key -> url of peers we sync with because we saw them
    async for event in events:
        if isinstance(event, NodeListenerStarted):
            log.info("listener started %s tls=%s fingerprint=%s", " ".join(event.urls),
                     event.tls, event.fingerprint or "-")
        elif isinstance(event, NodeListenerStopped):
            log.info("listener stopped")
        elif isinstance(event, ClientsChanged):
            now = {c.id: c for c in event.clients}
            for cid in now.keys() - clients.keys():
                log.info("client connected: %s from %s", now[cid].user, now[cid].address)
            for cid in clients.keys() - now.keys():
                log.info("client disconnected: %s from %s", clients[cid].user,
                         clients[cid].address)
            clients = now
        elif isinstance(event, PeerDiscovered):
            peer = event.peer
            log.info("peer discovered: %s at %s:%s (%s)", peer.name, peer.address, peer.port,
                     peer.source)
            if config.auto_sync and config.password is not None:
                before = discovered.get(peer.key)
                if before == peer.url:
                    continue  # already syncing with it (an advert refresh)
                if before is not None:
                    await node.stop_sync(peer.key)  # it moved (new port): start afresh
                discovered[peer.key] = peer.url
                await node.start_sync(peer.key)
        elif isinstance(event, PeerLost):
            log.info("peer lost: %s", event.key)
            if discovered.pop(event.key, None) is not None:
                await node.stop_sync(event.key)
        elif isinstance(event, ReplicationChanged):
            _log_replication(event, activity)
        elif isinstance(event, ErrorReported):
            log.warning("%s", event.message)


def _log_replication(event: ReplicationChanged, activity: dict[str, str]) -> None:
    changed = activity.get(event.key) != event.activity or event.error is not None
    activity[event.key] = event.activity
    if event.error:
        log.warning("sync with %s: %s, retrying with backoff: %s", event.key, event.activity,
                    event.error)
    elif event.activity == "idle" and changed:
        log.info("sync with %s: idle, %d revisions transferred on this connection",
                 event.key, event.done)
    elif event.activity != "busy" and changed:
        log.info("sync with %s: %s", event.key, event.activity)
    else:  # progress ticks, and every busy spell, only when debugging
        log.debug("sync with %s: %s %d/%d", event.key, event.activity, event.done, event.total)
