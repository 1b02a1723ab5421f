"""The app shell: logging in, finding keys, moving between screens, engine errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from engine import StoreError, open_list_db
from tests.tui.conftest import SIZE, settle, until
from tui import prefs
from tui.app import KIOSK_CHORD_SECONDS
from tui.screens.activity import ActivityScreen
from tui.screens.help import HelpScreen
from tui.screens.inventory import InventoryScreen
from tui.screens.listener import ListenerScreen
from tui.screens.login import LoginScreen
from tui.screens.peers import PeersScreen
from tui.screens.settings import SettingsScreen


def notes(app: Any) -> list[str]:
    return [n.message for n in app._notifications]


@pytest.mark.anyio
async def test_login_opens_the_users_list_and_remembers_the_name(
        make_app: Any, data_dir: Path) -> None:
    opened: list[str] = []

    def opener(data_dir: Path, user: str, name: str) -> Any:
        opened.append(user)
        return open_list_db(data_dir, user, name)  # a new user: the sample list

    app = make_app(user=None, password=None, opener=opener)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LoginScreen)
        await pilot.press(*"carol", "enter", *"pw", "enter")
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
        assert opened == ["carol"]
        assert app.session is not None and app.session.password == "pw"
        await until(pilot, lambda: len(app.screen.rows) == 42)  # the tutorial's sample list
    assert prefs.load_last_user(data_dir) == "carol"

    again = make_app(user=None, password=None)
    async with again.run_test(size=SIZE) as pilot:
        assert again.screen.query_one("#user").value == "carol"


@pytest.mark.anyio
async def test_login_needs_a_name_and_a_password(make_app: Any) -> None:
    app = make_app(user=None, password=None)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("enter", "enter")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert "Enter a user name." in str(app.screen.query_one("#problem").render())


@pytest.mark.anyio
async def test_user_option_asks_only_for_the_password(make_app: Any) -> None:
    app = make_app(password=None)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, LoginScreen)
        assert not app.screen.query("#user")
        await pilot.press(*"pw", "enter")
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))


@pytest.mark.anyio
async def test_user_and_password_open_straight_on_the_inventory(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen) and app.screen.rows)
        assert app.screen.title == "What's in Season?"
        assert list(app.screen.rows) == [row.id for row in app.session.inventory.items()]


@pytest.mark.anyio
async def test_an_engine_error_is_one_sentence_not_a_crash(make_app: Any) -> None:
    def broken(data_dir: Path, user: str, name: str) -> Any:
        raise StoreError("The database folder is not writable.")

    app = make_app(opener=broken)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(notes(app)))
        assert notes(app) == ["The database folder is not writable."]
        assert isinstance(app.screen, LoginScreen)


@pytest.mark.anyio
async def test_help_lists_every_key_of_the_screen(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        keys = {str(table.get_row_at(i)[0]) for i in range(table.row_count)}
        assert {"+", "-", "=", "s", "a", "r", "d", "p", "F1", "F3", "F6", "ctrl+p"} <= keys
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)


async def help_keys(app: Any, pilot: Any) -> set[str]:
    await pilot.press("f1")
    await settle(pilot)
    assert isinstance(app.screen, HelpScreen)
    table = app.screen.query_one(DataTable)
    return {str(table.get_row_at(i)[0]) for i in range(table.row_count)}


@pytest.mark.anyio
async def test_kiosk_help_lists_only_keys_that_work_there(make_app: Any) -> None:
    app = make_app(kiosk=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
        keys = await help_keys(app, pilot)
        assert {"+", "-", "=", "a", "d", "F1"} <= keys
        assert not keys & {"ctrl+q", "ctrl+p", "Esc", "F2", "F3", "F4", "F5", "F6"}
        await pilot.press("escape")
        await settle(pilot)
        await pilot.press("ctrl+p", "escape", "f3")  # and indeed: none of them does anything
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen) and app.is_running


@pytest.mark.anyio
async def test_function_keys_switch_screens_and_escape_goes_home(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
        for key, screen in [("f3", PeersScreen), ("f4", ListenerScreen),
                            ("f5", ActivityScreen), ("f6", SettingsScreen)]:
            await pilot.press(key)
            await settle(pilot)
            assert isinstance(app.screen, screen)
            assert len(app.screen_stack) == 2  # sections replace each other over home
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        await pilot.press("escape")  # home stays home
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)


@pytest.mark.anyio
async def test_screens_are_in_the_command_palette(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
        titles = [cmd.title for cmd in app.get_system_commands(app.screen)]
        assert {"Peers", "Listener", "Activity", "Settings", "Inventory"} <= set(titles)


@pytest.mark.anyio
async def test_kiosk_stays_on_the_inventory_and_quits_only_on_the_chord(make_app: Any) -> None:
    app = make_app(kiosk=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
        await pilot.press("f3", "f4", "f5", "f6", "ctrl+p")
        await settle(pilot)
        assert isinstance(app.screen, InventoryScreen)
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert app.is_running and isinstance(app.screen, InventoryScreen)
        await pilot.press("ctrl+x")  # Ctrl+Q, then Ctrl+X (tui/docs/raspberry-pi.md)
        await until(pilot, lambda: not app.is_running)


@pytest.mark.anyio
async def test_kiosk_chord_needs_ctrl_q_first_and_ctrl_x_soon_after(make_app: Any) -> None:
    app = make_app(kiosk=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
        await pilot.press("ctrl+x")
        await pilot.press("ctrl+q")
        app._quit_armed_at -= KIOSK_CHORD_SECONDS + 1  # as if Ctrl+X came too late
        await pilot.press("ctrl+x")
        await settle(pilot)
        assert app.is_running
