"""The app runs the engine's Node through the bridge (a stand-in Node with the facade's shape)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from textual.widgets import Input

import engine
from tests.tui.conftest import SIZE, settle, until
from tests.tui.test_bridge import ListenerStarted, PeerInfo
from tui.screens.inventory import InventoryScreen


@dataclass(frozen=True)
class NodeSettings:
    tls: str = "anonymous"
    port: int = 0
    deltas: bool = True
    read_only: bool = False
    advertise: bool = True
    service_name: str | None = None
    validation: str = "tofu"
    pinned_cert: Path | None = None


class FakeNode:
    started: list[FakeNode] = []

    def __init__(self, db: Any, *, user: str, password: str, settings: NodeSettings,
                 data_dir: Path, db_name: str) -> None:
        self.user, self.password, self.settings = user, password, settings
        self.send, self.receive = anyio.create_memory_object_stream[Any](100)
        self.calls: list[str] = []

    async def __aenter__(self) -> FakeNode:
        FakeNode.started.append(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.send.close()
        self.receive.close()

    def events(self) -> Any:
        return self.receive

    def peers(self) -> list[PeerInfo]:
        return [PeerInfo("till", "till", "10.0.0.7", 4984, "anonymous", None, "mdns")]

    async def start_listener(self) -> None:
        self.calls.append("start_listener")
        port = self.settings.port or 40000
        await self.send.send(ListenerStarted([f"wss://10.0.0.1:{port}/userdb"], port, "AB",
                                             self.settings.tls))


@pytest.fixture
def fake_node(monkeypatch: pytest.MonkeyPatch) -> type[FakeNode]:
    FakeNode.started = []
    monkeypatch.setattr(engine, "Node", FakeNode, raising=False)
    monkeypatch.setattr(engine, "NodeSettings", NodeSettings, raising=False)
    return FakeNode


@pytest.mark.anyio
async def test_the_node_starts_after_login_with_the_users_password(
        make_app: Any, fake_node: type[FakeNode]) -> None:
    app = make_app(start_node=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(fake_node.started) and bool(app.peers))
        node = fake_node.started[0]
        assert (node.user, node.password) == ("bob", "secret")
        assert [p.name for p in app.peers] == ["till"]
        await pilot.press("f4", "s")
        await until(pilot, lambda: app.listener.running)
        assert app.listener.urls == ("wss://10.0.0.1:40000/userdb",)


@pytest.mark.anyio
async def test_saved_settings_restart_the_node_and_its_listener(
        make_app: Any, fake_node: type[FakeNode], data_dir: Path) -> None:
    app = make_app(start_node=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, InventoryScreen)
                    and bool(fake_node.started))
        await pilot.press("f4", "s")
        await until(pilot, lambda: app.listener.running)
        await pilot.press("f6")
        await settle(pilot)
        app.screen.query_one("#port", Input).value = "4984"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: len(fake_node.started) == 2 and app.listener.port == 4984)
        assert fake_node.started[1].settings.port == 4984
        assert fake_node.started[1].calls == ["start_listener"]
    assert json.loads((data_dir / "settings.json").read_text())["port"] == 4984
