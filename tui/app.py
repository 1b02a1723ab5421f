"""ListsyncApp: login, then the inventory as home, with sections for syncing.

Navigation: F2 inventory (home), F3 peers, F4 listener, F5 activity, F6
settings; Esc goes back to the inventory; F1 or ? lists every key of the
current screen; ctrl+p opens the command palette. Letters are item actions.
Engine failures are caught here, in `engine_call`, and shown as one sentence.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import ModalScreen, Screen
from textual.worker import NoActiveWorker, WorkerCancelled, WorkerFailed, get_current_worker

import engine
from engine import EngineError
from tui import prefs
from tui.engine_bridge import CLOSE_SECONDS, NodeBridge, clock_text
from tui.frames import after_first_frames, collect_again
from tui.inventory import Inventory, Opened, Opener, open_in_background, open_list
from tui.messages import (
    ActivityEntry,
    ActivityLogged,
    ErrorReported,
    ListenerUpdated,
    ListenerView,
    PeerRow,
    PeersUpdated,
)
from tui.screens.inventory import InventoryScreen
from tui.screens.login import LoginScreen

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ACTIVITY = 500  # lines kept in the activity log
KIOSK_CHORD_SECONDS = 2.0  # kiosk: Ctrl+X must follow Ctrl+Q within this to quit
# Screens past the first are imported when first shown: the inventory paints sooner.
SECTIONS: dict[str, tuple[str, str]] = {
    "peers": ("tui.screens.peers", "PeersScreen"),
    "listener": ("tui.screens.listener", "ListenerScreen"),
    "activity": ("tui.screens.activity", "ActivityScreen"),
    "settings": ("tui.screens.settings", "SettingsScreen"),
}
NAV = Binding.Group("Screens")


@dataclass
class Session:
    """The logged-in user and their open database."""

    user: str
    password: str
    db: Any
    inventory: Inventory
    db_name: str = "userdb"


class ListsyncApp(App[int]):
    """The terminal app. `opener` opens a user's database (engine.open_list_db)."""

    CSS_PATH = "app.tcss"
    TITLE = "listsync"
    BINDINGS = [
        Binding("f1,question_mark", "help", "Help", key_display="F1",
                tooltip="List every key of this screen"),
        Binding("f2", "goto('inventory')", "Items", key_display="F2", group=NAV,
                tooltip="Inventory (home)"),
        Binding("f3", "goto('peers')", "Peers", key_display="F3", group=NAV,
                tooltip="Peers: devices to sync with"),
        Binding("f4", "goto('listener')", "Listener", key_display="F4", group=NAV,
                tooltip="Listener: let devices sync with you"),
        Binding("f5", "goto('activity')", "Activity", key_display="F5", group=NAV,
                tooltip="Activity: syncs, merges, errors"),
        Binding("f6", "goto('settings')", "Settings", key_display="F6", group=NAV,
                tooltip="Settings: TLS, port, advertising"),
        Binding("escape", "back", "Back", show=False, tooltip="Back to the inventory"),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
        Binding("ctrl+x", "kiosk_quit", show=False, priority=True),
    ]

    listener: reactive[ListenerView] = reactive(ListenerView, always_update=True)
    peers: reactive[tuple[PeerRow, ...]] = reactive(tuple, always_update=True)
    activity: reactive[tuple[ActivityEntry, ...]] = reactive(tuple, always_update=True)

    def __init__(self, *, data_dir: Path, opener: Opener, db_name: str = "userdb",
                 user: str | None = None, password: str | None = None,
                 device: str | None = None, start_node: bool = True,
                 node_options: dict[str, Any] | None = None,
                 sync_with: str | None = None, settings: engine.Settings | None = None,
                 kiosk: bool = False, opening: Future[Opened] | None = None) -> None:
        """`opening`: the given user's list, already being opened (`open_in_background`);
        by default, with a user and a password, it starts opening now."""
        super().__init__()
        self.data_dir = data_dir
        self.opener = opener
        self.db_name = db_name
        self.given_user = user
        self.given_password = password
        self.device = device  # None: the database's uuid owns this device's counters
        self.start_node = start_node
        # NodeSettings fields the settings screen does not offer (host, browse), fixed
        # for this run: tests and `listsync demo` keep to loopback without mDNS.
        self.node_options = dict(node_options or {})
        self.sync_with = sync_with  # a peer (host:port) to add and sync with once logged in
        self.session: Session | None = None
        self.bridge = NodeBridge(self.post_message)
        # The shared settings file (engine's API); None: load it (--config, $LISTSYNC_CONFIG,
        # else the default path) when the app starts.
        self.settings = settings if settings is not None else engine.Settings()
        self._settings_given = settings is not None
        self.kiosk = kiosk
        self._quit_armed_at: float | None = None
        if opening is None and user and password:
            opening = open_in_background(opener, data_dir, user, db_name, device)
        self._opening = opening

    # Start and login --------------------------------------------------------

    def get_default_screen(self) -> Screen[Any]:
        if self._opening is not None and self.given_user and self.given_password:
            # The first screen is the list itself: no stand-in to build, paint and replace.
            # Nothing could be painted before it, so waiting here (rarely) costs nothing.
            opening, self._opening = self._opening, None
            try:
                opened = opening.result()
            except EngineError as err:
                self.call_later(self.report, err)
            else:
                return self._home(self.given_user, self.given_password, opened)
        remembered = self.given_user or prefs.load_last_user(self.data_dir)
        return LoginScreen(user=remembered, fixed_user=self.given_user is not None)

    def on_mount(self) -> None:
        self.settings = self._load_settings()
        if self.session is not None:
            self._logged_in(self.session.user)
        self.call_after_refresh(collect_again)

    async def on_unmount(self) -> None:
        # Textual cancels workers at exit without waiting; wait for the Node's worker so
        # it stops cleanly (clients told, replicators stopped) before its database closes.
        await self.stop_node()
        if self.session is not None:
            self.session.db.close()

    def _load_settings(self) -> engine.Settings:
        if self._settings_given:
            return self.settings
        try:
            return engine.load_settings()
        except EngineError as err:
            self.report(err)
            return engine.Settings()

    def on_login_screen_submitted(self, message: LoginScreen.Submitted) -> None:
        self.log_in(message.user, message.password)

    @work(group="login", exclusive=True)
    async def log_in(self, user: str, password: str) -> None:
        opened = await self.engine_call(open_list, self.opener, self.data_dir, user,
                                        self.db_name, self.device)
        if opened is None:
            return
        home = self._home(user, password, opened)
        # The inventory gets a screen stack (mode) of its own, so Esc never leads back to login.
        self.add_mode("home", lambda: home)
        await self.switch_mode("home")
        self._logged_in(user)

    def _home(self, user: str, password: str, opened: Opened) -> InventoryScreen:
        inventory = opened.inventory
        inventory.note_merges(self._merged)
        self.session = Session(user, password, inventory.db, inventory, self.db_name)
        log.info("logged in as %s", user)
        return InventoryScreen(inventory, (opened.since, opened.rows))

    def _logged_in(self, user: str) -> None:
        # Once the inventory shows: remember the user, then start the network.
        if self.start_node:
            self.bridge.expected = True  # a peer added before the Node has loaded waits for it
        after_first_frames(self, lambda: self._remember_user(user))
        if self.start_node:
            after_first_frames(self, self.run_node)

    @work(group="remember", exit_on_error=False)
    async def _remember_user(self, user: str) -> None:
        try:
            await anyio.to_thread.run_sync(prefs.save_last_user, self.data_dir, user)
        except OSError as err:
            log.warning("could not remember the last user: %s", err)

    def _merged(self, doc_id: str, merged_rev: str, losers: tuple[str, ...]) -> None:
        # Called by the store's resolver, possibly from a sync worker thread:
        # post_message is thread-safe.
        text = "Merged changes another device made at the same time."
        self.post_message(ActivityLogged(ActivityEntry(
            clock_text(), "conflict", text, doc_id=doc_id, winner_rev=merged_rev,
            loser_revs=losers)))

    @work(group="resolutions", exclusive=True)
    async def load_resolutions(self) -> None:
        """Add the conflicts the store noted (`db.resolutions()`, also those resolved by
        another process on this database) to the activity log, once each."""
        session = self.session
        if session is None or not hasattr(session.db, "resolutions"):
            return  # an engine without resolution notes: only this run's merges are shown
        records = await self.engine_call(session.db.resolutions)
        seen = {(e.doc_id, e.winner_rev) for e in self.activity if e.kind == "conflict"}
        for record in records or []:
            if (record.doc_id, record.winner) in seen:
                continue
            source = f"from {record.from_peer}" if record.from_peer else "made here"
            outcome = ("merged; nothing lost" if record.merged else
                       f"{len(record.losers)} version(s) lost, Enter to look, r to restore")
            self.activity = (*self.activity[-(MAX_ACTIVITY - 1):], ActivityEntry(
                clock_text(record.at), "conflict",
                f"Resolved a conflict in {record.doc_id} ({source}): {outcome}.",
                doc_id=record.doc_id, winner_rev=record.winner, loser_revs=record.losers))

    # Engine calls, in one place ----------------------------------------------

    async def engine_call(self, fn: Callable[..., T], *args: Any) -> T | None:
        """Run an engine call off the UI thread; an EngineError becomes a notification."""
        try:
            if inspect.iscoroutinefunction(fn):
                result: T = await fn(*args)
                return result
            return await anyio.to_thread.run_sync(lambda: fn(*args))
        except EngineError as err:
            self.report(err)
            return None

    def report(self, err: EngineError | str) -> None:
        log.info("engine error shown to the user: %s", err, exc_info=isinstance(err, Exception))
        self.notify(str(err), severity="error", timeout=8, markup=False)

    # The sync node -----------------------------------------------------------

    @work(group="node", exit_on_error=False)
    async def run_node(self, start_listener: bool = False) -> None:
        session = self.session
        if session is None:
            return
        await self.stop_node()  # the old Node first: it may hold the port the new one wants
        ready = self.bridge.start_listener if start_listener else None
        if self.sync_with is not None:
            ready = self.bridge.sync_with_peer(self.sync_with, ready)
        node_settings = await self.engine_call(self._node_settings)
        if node_settings is None:
            self.bridge.expected = False  # commands fail at once instead of waiting
            return
        await self.engine_call(partial_run(self.bridge, session, node_settings, self.data_dir,
                                           ready))

    def _node_settings(self) -> engine.NodeSettings:
        password = None
        path = self.settings.listener_identity_password_file
        if path is not None:
            try:
                password = path.read_text(encoding="utf-8").splitlines()[0]
            except (OSError, IndexError) as err:
                raise engine.ConfigError(f"Could not read the identity password from {path}."
                                         ) from err
        node = self.settings.node_settings(identity_password=password)
        return replace(node, **self.node_options)

    async def stop_node(self) -> None:
        """Cancel the running Node's worker (other than this one) and wait until it has stopped."""
        current = get_current_worker_or_none()
        running = [w for w in self.workers
                   if w.group == "node" and w is not current and not w.is_finished]
        for worker in running:
            worker.cancel()
        with anyio.move_on_after(CLOSE_SECONDS + 1):
            for worker in running:
                with contextlib.suppress(WorkerCancelled, WorkerFailed):
                    await worker.wait()

    def apply_settings(self, settings: engine.Settings) -> None:
        """Save new settings to the settings file and restart the node with them (listener
        too, if it was on)."""
        engine.save_settings(settings)
        self.settings = settings
        if self.session is not None and self.start_node:
            self.run_node(start_listener=self.listener.running)

    def on_listener_updated(self, message: ListenerUpdated) -> None:
        self.listener = message.view

    def on_peers_updated(self, message: PeersUpdated) -> None:
        self.peers = message.peers

    def on_activity_logged(self, message: ActivityLogged) -> None:
        self.activity = (*self.activity[-(MAX_ACTIVITY - 1):], message.entry)
        if message.entry.kind == "conflict":
            self.notify(message.entry.text, title="Merged", markup=False)

    def on_error_reported(self, message: ErrorReported) -> None:
        self.report(message.text)

    # Navigation --------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.kiosk and action in {"goto", "back", "command_palette"}:
            return False  # locked to the inventory (tui/docs/raspberry-pi.md, "A kiosk")
        if action in {"goto", "back"}:
            return self.session is not None and not isinstance(self.screen, ModalScreen)
        return True

    async def action_quit(self) -> None:
        if not self.kiosk:
            self.exit()
            return
        # Kiosk: Ctrl+Q then Ctrl+X within KIOSK_CHORD_SECONDS, so a stray key never quits.
        self._quit_armed_at = time.monotonic()
        self.notify("Press Ctrl+X to quit.", timeout=KIOSK_CHORD_SECONDS)

    def action_kiosk_quit(self) -> None:
        armed = self._quit_armed_at
        self._quit_armed_at = None
        if self.kiosk and armed is not None and time.monotonic() - armed <= KIOSK_CHORD_SECONDS:
            self.exit()

    def action_goto(self, name: str) -> None:
        if name == "inventory":
            self.action_back()
            return
        module, class_name = SECTIONS[name]
        section: type[Screen[Any]] = getattr(importlib.import_module(module), class_name)
        if isinstance(self.screen, section):
            return
        if len(self.screen_stack) > 1:
            self.switch_screen(section())
        else:
            self.push_screen(section())

    def action_back(self) -> None:
        if len(self.screen_stack) > 1:
            self.pop_screen()

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen, keys_of

        if isinstance(self.screen, HelpScreen):
            return
        title = self.screen.title or self.screen.__class__.__name__
        self.push_screen(HelpScreen(str(title), keys_of(self.screen, kiosk=self.kiosk)))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.session is None:
            return
        for name, text in [("inventory", "Inventory: the items and their quantities"),
                           ("peers", "Peers: devices to sync with"),
                           ("listener", "Listener: let other devices sync with this one"),
                           ("activity", "Activity: what syncing did, conflicts, errors"),
                           ("settings", "Settings: TLS, port, advertising")]:
            title, help_text = text.split(": ", 1)
            yield SystemCommand(title, help_text, partial_goto(self, name))
        yield SystemCommand("Keys", "List every key of this screen", self.action_help)


def partial_goto(app: ListsyncApp, name: str) -> Callable[[], None]:
    return lambda: app.action_goto(name)


def partial_run(bridge: NodeBridge, session: Session, settings: Any, data_dir: Path,
                ready: Callable[[], Any] | None) -> Callable[[], Any]:
    async def run() -> None:
        await bridge.run(session.db, user=session.user, password=session.password,
                         settings=settings, data_dir=data_dir,
                         db_name=session.db_name, ready=ready)

    return run


def get_current_worker_or_none() -> Any:
    try:
        return get_current_worker()
    except NoActiveWorker:
        return None
