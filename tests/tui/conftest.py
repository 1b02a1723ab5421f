"""Fixtures for the terminal app's tests: a database with a small fixed list, and the app."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from engine import Database, list_resolver, open_user_db
from tui.app import ListsyncApp

SIZE = (80, 24)


def picture(colour: tuple[int, int, int]) -> bytes:
    """A small PNG: a coloured disc on white, enough to see half-block drawing."""
    image = Image.new("RGB", (16, 16), (255, 255, 255))
    for x in range(16):
        for y in range(16):
            if (x - 7.5) ** 2 + (y - 7.5) ** 2 < 40:
                image.putpixel((x, y), colour)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def fill(db: Any) -> None:
    """Apples (with a picture), Beets, Carrots, Figs — fixed, so snapshots are stable."""
    apple = db.blobs.put(picture((200, 30, 30)), "image/png")
    last = {"device": "kiosk-2", "user": "alice", "at": "2026-11-26 09:00"}
    db.save("list", {"type": "list", "items": [
        {"key": "Apples", "value": 10, "image": apple, "last": last},
        {"key": "Beets", "value": 4},
        {"key": "Carrots", "value": 14},
        {"key": "Figs", "value": 0},
    ]}, rev=None)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def db(data_dir: Path) -> Iterator[Database]:
    """bob's real database in tmp_path, holding the fixed list above."""
    database = open_user_db(data_dir, "bob", "userdb", init=fill)
    database.resolver = list_resolver
    yield database
    database.close()


@pytest.fixture
def make_app(data_dir: Path, db: Any) -> Callable[..., ListsyncApp]:
    def make(**kwargs: Any) -> ListsyncApp:
        options: dict[str, Any] = {
            "data_dir": data_dir, "opener": lambda data_dir, user, name: db,
            "user": "bob", "password": "secret", "device": "kiosk-1", "start_node": False,
        }
        options.update(kwargs)
        return ListsyncApp(**options)

    return make


BACKGROUND = {"feed", "node", "picture"}  # workers that run for the app's lifetime


async def settle(pilot: Any) -> None:
    """Wait until every save/dialog worker has finished and the screen has caught up."""
    app = pilot.app
    for _ in range(20):
        busy = [w for w in app.workers if w.group not in BACKGROUND and not w.is_finished]
        if not busy:
            break
        for worker in busy:
            await worker.wait()
        await pilot.pause()
    await pilot.pause()


async def until(pilot: Any, condition: Callable[[], bool], seconds: float = 20) -> None:
    """Let the app run until `condition` holds (for changes that come from elsewhere)."""
    import anyio

    with anyio.fail_after(seconds):
        while not condition():
            await pilot.pause(0.02)


async def answer(pilot: Any, text: str) -> None:
    """Fill the open dialog's input with `text` and press Enter (typing each key is slow)."""
    from textual.widgets import Input

    await pilot.pause()
    pilot.app.screen.query_one(Input).value = text
    await pilot.press("enter")
