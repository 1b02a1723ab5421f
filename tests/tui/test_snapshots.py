"""What the main screens look like at 80x24, with fixed data (no clocks, no network).

Update after an intended change with `pytest tests/tui --snapshot-update` and
look at the SVGs before committing them.
"""

from __future__ import annotations

from typing import Any

from tests.tui.conftest import SIZE, until
from tests.tui.test_sync_screens import LISTENING, PEERS
from tui.messages import ActivityEntry, ActivityLogged, ListenerUpdated, PeersUpdated
from tui.screens.inventory import InventoryScreen


def at_home(*keys: str, messages: tuple[Any, ...] = ()) -> Any:
    async def run_before(pilot: Any) -> None:
        app = pilot.app
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen)
                    and app.screen.rows and app.screen.query_one("#item-picture").data)
        for message in messages:
            app.post_message(message)
        await pilot.press(*keys)
        await pilot.pause()

    return run_before


def test_inventory(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=at_home())


def test_inventory_help(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=at_home("f1"))


def test_delete_confirmation(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=at_home("d"))


def test_login(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(user=None, password=None), terminal_size=SIZE)


def test_peers(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE,
                        run_before=at_home("f3", messages=(PeersUpdated(PEERS),)))


def test_listener(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE,
                        run_before=at_home("f4", messages=(ListenerUpdated(LISTENING),)))


def test_activity(snap_compare: Any, make_app: Any) -> None:
    entries = (ActivityEntry("09:00:00", "listener", "alice connected from 192.168.1.20:51000."),
               ActivityEntry("09:00:02", "sync", "kiosk-1: idle."),
               ActivityEntry("09:01:00", "error", "backroom: Could not connect."))
    messages = tuple(ActivityLogged(entry) for entry in entries)
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=at_home("f5", messages=messages))


def test_settings(snap_compare: Any, make_app: Any) -> None:
    assert snap_compare(make_app(), terminal_size=SIZE, run_before=at_home("f6"))
