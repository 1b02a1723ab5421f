"""The app drives the real engine Node on loopback: a real listener, a real peer Node.

Every Node here listens on 127.0.0.1 without mDNS (no advertising, no browsing);
TLS is anonymous (a certificate made at start), peers are checked by trust on
first use, and passwords are checked against the shipped allowlist (bob/password).
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pytest
from textual.widgets import DataTable, Input, Static

import engine
from tests.tui.conftest import SIZE, answer, fill, settle, until
from tui.engine_bridge import NodeBridge
from tui.messages import PeersUpdated
from tui.screens.confirm import ConfirmDialog
from tui.screens.inventory import InventoryScreen
from tui.screens.peers import PeersScreen

LOOPBACK: dict[str, Any] = {"host": "127.0.0.1", "advertise": False, "browse": False}
PASSWORD = "password"  # bob's password in the shipped allowlist


@asynccontextmanager
async def peer_node(root: Path, *, listen: bool = True, tls: str = "anonymous",
                    ) -> AsyncIterator[Any]:
    """Another device: bob's own database in `root`, with the same starting list."""
    db = engine.open_user_db(root, "bob", "userdb", init=fill)
    db.resolver = engine.list_resolver
    settings = engine.NodeSettings(tls=tls, **LOOPBACK)
    try:
        async with engine.Node(db, data_dir=root, user="bob", password=PASSWORD,
                               settings=settings) as node:
            if listen:
                await node.start_listener()
            yield node
    finally:
        db.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port (binding it fails while a listener holds it;
    a bare TCP connect would leave the listener a half-open client to clean up). With
    SO_REUSEADDR, a closed connection left in TIME-WAIT on that port does not count;
    a listening socket still does."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
        return False


def quantity(db: Any, name: str) -> int:
    found = engine.find_item(engine.read_list(db), name)
    assert found is not None
    return int(found["value"])


async def logged_in(app: Any, pilot: Any) -> None:
    await until(pilot, lambda: isinstance(app.screen, InventoryScreen)
                and app.bridge._node is not None)


async def sync_with(app: Any, pilot: Any, port: int) -> None:
    """Peers screen: add 127.0.0.1:port by hand and press Enter on it."""
    await pilot.press("f3", "a")
    await answer(pilot, f"127.0.0.1:{port}")
    await until(pilot, lambda: any(p.key == f"127.0.0.1:{port}" for p in app.peers))
    await settle(pilot)
    assert isinstance(app.screen, PeersScreen)
    await pilot.press("enter")


def peer_state(app: Any, port: int) -> Any:
    return next(p for p in app.peers if p.key == f"127.0.0.1:{port}")


@pytest.mark.anyio
async def test_after_login_s_starts_a_real_listener_and_shows_its_url(make_app: Any) -> None:
    app = make_app(start_node=True, node_options=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await logged_in(app, pilot)
        await pilot.press("f4", "s")
        await until(pilot, lambda: app.listener.running)
        port = app.listener.port
        assert port and app.listener.urls == (f"wss://127.0.0.1:{port}/userdb",)
        assert app.listener.fingerprint
        assert listening(port)
        await settle(pilot)
        shown = str(app.screen.query_one("#listener-state", Static).render())
        assert f"wss://127.0.0.1:{port}/userdb" in shown
        await pilot.press("s")  # nobody connected: stops without asking
        await until(pilot, lambda: not app.listener.running)
        assert not isinstance(app.screen, ConfirmDialog)
        assert not listening(port)


@pytest.mark.anyio
async def test_saved_settings_restart_the_node_and_its_listener(
        make_app: Any, data_dir: Path) -> None:
    app = make_app(start_node=True, node_options=LOOPBACK)
    async with app.run_test(size=SIZE) as pilot:
        await logged_in(app, pilot)
        await pilot.press("f4", "s")
        await until(pilot, lambda: app.listener.running)
        old_port, wanted = app.listener.port, free_port()
        await pilot.press("f6")
        await settle(pilot)
        app.screen.query_one("#port", Input).value = str(wanted)
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.listener.running and app.listener.port == wanted)
        assert listening(wanted) and not listening(old_port)
    assert engine.load_settings(data_dir.parent / "settings.toml").listener_port == wanted


@pytest.mark.anyio
async def test_syncing_with_a_peer_goes_idle_and_changes_flow_both_ways(
        make_app: Any, db: Any, tmp_path: Path) -> None:
    app = make_app(start_node=True, node_options=LOOPBACK, password=PASSWORD)
    async with peer_node(tmp_path / "peer") as peer, app.run_test(size=SIZE) as pilot:
        await logged_in(app, pilot)
        await sync_with(app, pilot, peer.info.port)
        await until(pilot, lambda: peer_state(app, peer.info.port).activity == "idle")
        assert peer_state(app, peer.info.port).error is None
        await pilot.press("escape", "home", "plus")  # one more Apples, here
        await until(pilot, lambda: quantity(peer.db, "Apples") == 11)
        engine.update_list(peer.db, lambda body: engine.adjust(
            body, "Beets", -3, device="kiosk-2", user="bob", now=0))
        await until(pilot, lambda: quantity(db, "Beets") == 1)
        await until(pilot, lambda: str(app.screen.query_one("#items").get_row_at(1)[1]) == "1")


def tls_shown(app: Any, key: str) -> tuple[str, str]:
    """(the peers table's TLS cell, the detail line) for a peer."""
    table = app.screen.query_one("#peers", DataTable)
    return str(table.get_cell(key, "tls")), str(app.screen.query_one("#peer-info").render())


@pytest.mark.anyio
@pytest.mark.parametrize(("tls", "scheme", "before", "after"), [
    ("anonymous", "wss", "not checked yet", "verified (tofu)"),
    ("disabled", "ws", "disabled", "disabled"),
])
async def test_a_peer_added_by_url_shows_what_its_scheme_says_then_what_its_check_found(
        make_app: Any, tmp_path: Path, tls: str, scheme: str, before: str, after: str) -> None:
    app = make_app(start_node=True, node_options=LOOPBACK, password=PASSWORD)
    async with peer_node(tmp_path / "peer", tls=tls) as peer, app.run_test(size=SIZE) as pilot:
        await logged_in(app, pilot)
        key = f"127.0.0.1:{peer.info.port}"
        await pilot.press("f3", "a")
        await answer(pilot, f"{scheme}://{key}/userdb")  # as the peer's listener screen shows it
        await until(pilot, lambda: any(p.key == key for p in app.peers))
        await settle(pilot)
        cell, detail = tls_shown(app, key)
        assert cell == before and f"TLS {before}" in detail
        await pilot.press("enter")
        await until(pilot, lambda: peer_state(app, peer.info.port).activity == "idle")
        await settle(pilot)
        cell, detail = tls_shown(app, key)
        assert cell == after and f"TLS {after}" in detail


@pytest.mark.anyio
async def test_a_peer_whose_certificate_fails_the_check_shows_check_failed(
        make_app: Any, tmp_path: Path) -> None:
    # "ca" validation against the system's CAs: the peer's self-made certificate fails it.
    app = make_app(start_node=True, node_options=dict(LOOPBACK, validation="ca"),
                   password=PASSWORD)
    async with peer_node(tmp_path / "peer") as peer, app.run_test(size=SIZE) as pilot:
        await logged_in(app, pilot)
        key = f"127.0.0.1:{peer.info.port}"
        before = peer.db.update_seq
        await pilot.press("f3", "a")
        await answer(pilot, f"wss://{key}/userdb")
        await until(pilot, lambda: any(p.key == key for p in app.peers))
        await pilot.press("enter")
        await until(pilot, lambda: peer_state(app, peer.info.port).error is not None)
        await settle(pilot)
        cell, detail = tls_shown(app, key)
        assert cell == "check failed" and "TLS check failed" in detail
        assert peer_state(app, peer.info.port).activity not in {"idle", "busy"}
        assert "certificate" in str(app.screen.query_one("#peer-error").render()).lower()
        assert peer.db.update_seq == before  # nothing was pushed to it


@pytest.mark.anyio
async def test_a_wrong_password_shows_the_auth_error(make_app: Any, tmp_path: Path) -> None:
    app = make_app(start_node=True, node_options=LOOPBACK, password="not-bobs")
    async with peer_node(tmp_path / "peer") as peer, app.run_test(size=SIZE) as pilot:
        await logged_in(app, pilot)
        await sync_with(app, pilot, peer.info.port)
        await until(pilot, lambda: peer_state(app, peer.info.port).error is not None)
        error = peer_state(app, peer.info.port).error
        assert "password" in error.lower() or "refused" in error.lower()
        await until(pilot, lambda: any(error in n.message for n in app._notifications))
        await settle(pilot)
        assert error in str(app.screen.query_one("#peer-error").render())


@pytest.mark.anyio
async def test_stopping_the_listener_with_a_client_connected_asks_first(
        make_app: Any, tmp_path: Path) -> None:
    app = make_app(start_node=True, node_options=LOOPBACK)
    async with peer_node(tmp_path / "peer", listen=False) as peer, \
            app.run_test(size=SIZE) as pilot:
        await logged_in(app, pilot)
        await pilot.press("f4", "s")
        await until(pilot, lambda: app.listener.running)
        key = await peer.start_sync(app.listener.urls[0])
        await until(pilot, lambda: len(app.listener.clients) == 1)
        assert app.listener.clients[0].user == "bob"
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "A device is connected" in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert app.listener.running and len(app.listener.clients) == 1
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        port = app.listener.port
        await pilot.press("y")
        await until(pilot, lambda: not app.listener.running)
        assert not listening(port)
        await until(pilot, lambda: peer.replications[key].activity not in {"idle", "busy"})


@pytest.mark.anyio
async def test_a_peer_added_while_the_node_still_loads_is_added_once_it_has(
        db: Any, tmp_path: Path) -> None:
    added = anyio.Event()

    def post(message: Any) -> None:
        if isinstance(message, PeersUpdated) and any(
                p.key == "127.0.0.1:4984" and p.source == "manual" for p in message.peers):
            added.set()

    bridge = NodeBridge(post)
    bridge.expected = True  # as the app sets it at login, before the Node's worker starts
    settings = engine.NodeSettings(tls="anonymous", **LOOPBACK)
    with anyio.fail_after(20):
        async with anyio.create_task_group() as tg:
            tg.start_soon(bridge.add_manual_peer, "127.0.0.1:4984")
            await anyio.wait_all_tasks_blocked()  # the command waits: no Node yet
            tg.start_soon(partial(bridge.run, db, user="bob", password=PASSWORD,
                                  settings=settings, data_dir=tmp_path))
            await added.wait()
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_a_command_with_no_node_coming_fails_at_once() -> None:
    bridge = NodeBridge(lambda message: None)
    with anyio.fail_after(5), pytest.raises(engine.EngineError, match="not running"):
        await bridge.add_manual_peer("127.0.0.1:4984")
