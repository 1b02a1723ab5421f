"""Putting the pieces together: a passive peer's listener and an active peer's connector.

`make_listener` joins the websocket Listener to `serve_peer` on one database;
`make_connector` turns a URL, credentials and a TLS validation into the
`connect()` factory a Replicator needs. The CLI, the headless service and the
app's Node all build peers through these two functions.
"""

from __future__ import annotations

import dataclasses
import functools
import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from engine.errors import UsageError
from engine.protocol import DEFAULT_LIMITS
from engine.store.database import Database
from engine.sync.auth import Authenticator
from engine.sync.channel import DEFAULT_MAX_FRAME, MessageChannel
from engine.sync.listener import Listener
from engine.sync.server_session import serve_peer
from engine.sync.wsserver import ServerChannel, WebSocketSettings

if TYPE_CHECKING:  # a listener needs neither httpx nor cryptography: ~30 MB less for `serve`
    from engine.net.validation import ClientAuth, ClientTLS

Connect = Callable[[], AbstractAsyncContextManager[MessageChannel]]


@dataclass(frozen=True, slots=True)
class ListenOptions:
    """How a passive peer listens; the defaults match `listsync serve`."""

    host: str | None = None  # None: every interface
    port: int = 0  # 0: the OS picks
    read_only: bool = False
    deltas: bool = True
    heartbeat: float = 15.0  # seconds between pings
    max_frame: int = DEFAULT_MAX_FRAME


def make_listener(db: Database, db_name: str, *, data_dir: Path,
                  ssl_context: ssl.SSLContext | None, options: ListenOptions,
                  authenticate: Authenticator | None = None,
                  client_auth: ClientAuth | None = None) -> Listener:
    """A Listener serving `db` at `/<db_name>` to users of the data dir's allowlist.

    With `client_auth` (whose rules must already be in `ssl_context`), every
    client certificate is also checked by `ClientAuth.check_peer` after the handshake.
    """
    auth = authenticate or Authenticator.for_data_dir(data_dir)
    # The session must size its frames (revs batches, blob chunks) to the channel's limit.
    limits = dataclasses.replace(DEFAULT_LIMITS, max_frame=options.max_frame)

    async def handler(channel: ServerChannel, _db: str) -> None:
        await serve_peer(channel, db, read_only=options.read_only, deltas=options.deltas,
                         limits=limits, busy=channel.busy)

    settings = WebSocketSettings(max_frame=options.max_frame, heartbeat=options.heartbeat)
    return Listener(handler, authenticate=auth.authenticate, databases={db_name},
                    host=options.host, port=options.port, ssl_context=ssl_context,
                    settings=settings,
                    check_client_cert=client_auth.check_peer if client_auth else None)


def split_url(url: str) -> tuple[str, int, bool, str]:
    """(host, port, tls, db) of a ws:// or wss:// URL; UsageError if it is not one."""
    import httpx  # only active peers parse URLs; a listener never loads httpx

    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as err:
        raise UsageError(f"{url!r} is not a valid websocket URL.") from err
    if parsed.scheme not in ("ws", "wss") or not parsed.host:
        raise UsageError(f"{url!r} is not a ws:// or wss:// URL (like ws://host:port/userdb).")
    db = parsed.path.strip("/")
    if not db or "/" in db:
        raise UsageError(f"{url!r} does not name a database (like ws://host:port/userdb).")
    tls = parsed.scheme == "wss"
    return parsed.host, parsed.port or (443 if tls else 80), tls, db


def make_connector(url: str, *, username: str, password: str, tls: ClientTLS | None,
                   heartbeat: float = 15.0, max_frame: int = DEFAULT_MAX_FRAME,
                   connect_timeout: float = 10.0) -> Connect:
    """The `connect()` factory a Replicator calls for each attempt."""
    from engine.sync.wsclient import connect

    _host, _port, is_tls, _db = split_url(url)
    if is_tls and tls is None:
        raise UsageError("A wss:// URL needs a TLS validation mode.")
    factory = functools.partial(
        connect, url, username=username, password=password,
        ssl_context=tls.ssl_context if is_tls and tls else None,
        verify_server_cert=tls.verify_server_cert if is_tls and tls else None,
        max_frame=max_frame, heartbeat=heartbeat, connect_timeout=connect_timeout,
        explain_tls_failure=tls.explain if is_tls and tls else None)
    return cast(Connect, factory)
