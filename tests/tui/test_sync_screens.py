"""Peers, listener, activity and settings screens, driven by the bridge's messages."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, Select

import engine
from tests.tui.conftest import SIZE, answer, settle, until
from tui.messages import (
    ActivityEntry,
    ActivityLogged,
    ClientRow,
    ErrorReported,
    ListenerUpdated,
    ListenerView,
    PeerRow,
    PeersUpdated,
)
from tui.screens.confirm import ConfirmDialog
from tui.screens.inventory import InventoryScreen
from tui.screens.lost import LostDialog
from tui.widgets.tick import Tick

LISTENING = ListenerView(
    running=True, urls=("wss://192.168.1.10:4984/userdb",), port=4984, tls="anonymous",
    fingerprint="AB12CD34", clients=(ClientRow("c1", "alice", "192.168.1.20:51000", "09:00:00"),
                                     ClientRow("c2", "dave", "192.168.1.21:51200", "09:05:00")),
    busy=1)
PEERS = (
    PeerRow("k1", "kiosk-1", "192.168.1.20:4984", fingerprint="EF56", activity="busy",
            done=50, total=200),
    PeerRow("k2", "backroom", "192.168.1.30:4984", tls="disabled", source="manual",
            activity="offline", error="Could not connect to 192.168.1.30:4984."),
)


@dataclass
class FakeBridge:
    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        async def call(*args: Any) -> None:
            self.calls.append((name, args))

        return call


def rows(app: Any, selector: str) -> list[list[str]]:
    table = app.screen.query_one(selector, DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def home(app: Any, pilot: Any) -> FakeBridge:
    await until(pilot, lambda: isinstance(app.screen, InventoryScreen))
    bridge = FakeBridge()
    app.bridge = bridge
    return bridge


@pytest.mark.anyio
async def test_listener_screen_shows_urls_fingerprint_and_clients(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        await pilot.press("f4")
        app.post_message(ListenerUpdated(LISTENING))
        await settle(pilot)
        text = str(app.screen.query_one("#listener-state").render())
        assert "wss://192.168.1.10:4984/userdb" in text and "AB12CD34" in text
        assert "1 busy" in text
        assert rows(app, "#clients") == [["alice", "192.168.1.20:51000", "09:00:00"],
                                          ["dave", "192.168.1.21:51200", "09:05:00"]]


@pytest.mark.anyio
async def test_stopping_the_listener_with_clients_asks_first(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        bridge = await home(app, pilot)
        await pilot.press("f4")
        app.post_message(ListenerUpdated(LISTENING))
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmDialog)
        assert "2 devices are connected" in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert bridge.calls == []
        await pilot.press("s", "y")
        await settle(pilot)
        assert bridge.calls == [("stop_listener", ())]


@pytest.mark.anyio
async def test_starting_the_listener_asks_nothing(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        bridge = await home(app, pilot)
        await pilot.press("f4", "s")
        await settle(pilot)
        assert bridge.calls == [("start_listener", ())]


@pytest.mark.anyio
async def test_peers_screen_shows_state_progress_and_errors(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        await pilot.press("f3")
        app.post_message(PeersUpdated(PEERS))
        await settle(pilot)
        assert rows(app, "#peers") == [
            ["kiosk-1", "192.168.1.20:4984", "anonymous", "busy", "25%"],
            ["backroom (manual)", "192.168.1.30:4984", "disabled", "offline", ""],
        ]
        await pilot.press("down")
        await settle(pilot)
        error = str(app.screen.query_one("#peer-error").render())
        assert "Could not connect to 192.168.1.30:4984." in error


@pytest.mark.anyio
async def test_enter_starts_and_stops_syncing_and_keys_add_and_forget(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        bridge = await home(app, pilot)
        await pilot.press("f3")
        app.post_message(PeersUpdated((*PEERS, PeerRow("k3", "till", "10.0.0.3:4984"))))
        await settle(pilot)
        await pilot.press("enter")  # kiosk-1 is busy: stop it
        await pilot.press("down", "down", "enter")  # till is stopped: start it
        await pilot.press("a")
        await answer(pilot, "10.0.0.9:4984")
        await pilot.press("d", "y")
        await settle(pilot)
        assert bridge.calls == [("stop_sync", ("k1",)), ("start_sync", ("k3",)),
                                ("add_manual_peer", ("10.0.0.9:4984",)),
                                ("forget_peer", ("k3",))]


@pytest.mark.anyio
async def test_activity_logs_events_and_shows_what_lost_a_merge(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        winner = db.get("list")
        loser_body = json.loads(json.dumps(winner.body))
        loser_body["items"][1]["value"] = 1  # the losing side had sold 3 Beets
        loser = db.save("list", loser_body, rev=winner.rev)
        db.save("list", winner.body, rev=loser)  # the winner as it now stands
        await pilot.press("f5")
        app.post_message(ActivityLogged(ActivityEntry("09:00:00", "sync", "kiosk-1: idle.")))
        app.post_message(ActivityLogged(ActivityEntry(
            "09:01:00", "conflict", "Merged concurrent changes to list from kiosk-1.",
            doc_id="list", winner_rev=db.get("list").rev, loser_revs=(loser,))))
        await settle(pilot)
        assert [r[1] for r in rows(app, "#activity")] == ["sync", "conflict"]
        assert any("Merged concurrent changes" in n.message for n in app._notifications)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, LostDialog))
        assert app.screen.rows == [(loser, "Beets", "1", "4")]
        await pilot.press("r")  # restore the highlighted side: asks first
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        await pilot.press("n")
        await settle(pilot)
        assert engine.find_item(engine.read_list(db), "Beets")["value"] == 4


@pytest.mark.anyio
async def test_engine_errors_from_the_node_become_notifications(make_app: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        app.post_message(ErrorReported("The peer refused our password."))
        await settle(pilot)
        assert [n.message for n in app._notifications] == ["The peer refused our password."]


@pytest.mark.anyio
async def test_settings_are_saved_to_the_shared_settings_file(
        make_app: Any, data_dir: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        await pilot.press("f6")
        await settle(pilot)
        await pilot.press("enter", "down", "enter")  # TLS: anonymous -> disabled
        app.screen.query_one("#port", Input).value = "4984"
        app.screen.query_one("#service_name", Input).value = "shop-front"
        await pilot.press("ctrl+s")
        await settle(pilot)
    saved = engine.load_settings(data_dir.parent / "settings.toml")  # what every command reads
    assert saved.listener_port == 4984 and saved.listener_service_name == "shop-front"
    assert saved.listener_tls == "disabled" and saved.listener_deltas is True


@pytest.mark.anyio
async def test_the_settings_screen_shows_the_file_it_was_started_with(
        make_app: Any, data_dir: Path) -> None:
    path = data_dir.parent / "settings.toml"
    path.write_text('[listener]\nport = 5000\nadvertise = false\n[sync]\nvalidation = "skip"\n')
    app = make_app(settings=engine.load_settings(path))
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        await pilot.press("f6")
        await settle(pilot)
        assert app.screen.query_one("#port", Input).value == "5000"
        assert app.screen.query_one("#validation", Select).value == "skip"
        assert app.screen.query_one("#advertise", Tick).value is False


@pytest.mark.anyio
async def test_a_bad_port_is_refused_with_one_sentence(make_app: Any, data_dir: Path) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        await pilot.press("f6")
        await settle(pilot)
        app.screen.query_one("#port", Input).value = "70000"
        await pilot.press("ctrl+s")
        await settle(pilot)
        [message] = [n.message for n in app._notifications]
        assert "listener.port" in message and "70000" in message and message.count(".") <= 3
    assert not (data_dir.parent / "settings.toml").exists()


def concurrent_edit(db: Any) -> None:
    """Another device changed Beets while this one changed Carrots: a real conflict,
    which arrives by sync and is resolved (and noted) by the store's list resolver."""
    from engine.store.revs import make_rev_id

    base = db.get("list")
    ours = json.loads(json.dumps(base.body))
    ours["items"][2]["value"] = 2
    db.save("list", ours, rev=base.rev)
    theirs = json.loads(json.dumps(base.body))
    theirs["items"][1]["value"] = 1
    rev = make_rev_id(base.rev, False, theirs)
    db.put_revisions([engine.Revision("list", rev, False, theirs, [rev, base.rev])])
    assert db.resolutions() and not db.conflicts("list")


@pytest.mark.anyio
async def test_resolutions_the_store_noted_are_listed_in_activity(make_app: Any, db: Any) -> None:
    concurrent_edit(db)  # before the app starts: as if the `run` service had resolved it
    [record] = db.resolutions()
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        await pilot.press("f5")
        await until(pilot, lambda: any(e.winner_rev == record.winner for e in app.activity))
        [entry] = [e for e in app.activity if e.kind == "conflict"]
        assert entry.text.startswith("Resolved a conflict in list")
        assert entry.loser_revs == record.losers


@pytest.mark.anyio
async def test_r_restores_what_lost_after_asking(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await home(app, pilot)
        winner = db.get("list")
        loser_body = json.loads(json.dumps(winner.body))
        loser_body["items"][1]["value"] = 1  # the losing side had sold 3 Beets
        loser = db.save("list", loser_body, rev=winner.rev)
        db.save("list", winner.body, rev=loser)
        await pilot.press("f5")
        app.post_message(ActivityLogged(ActivityEntry(
            "09:01:00", "conflict", "Resolved a conflict in list.", doc_id="list",
            winner_rev=db.get("list").rev, loser_revs=(loser,))))
        await settle(pilot)
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Restore what the other side had" in app.screen.question
        await pilot.press("y")
        await until(pilot, lambda: engine.find_item(engine.read_list(db), "Beets")["value"] == 1)
        assert any("Restored" in n.message for n in app._notifications)
