"""The inventory screen: every key saves to the database at once; others' changes show live."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from textual.widgets import DataTable

from engine import adjust, items_view, open_user_db, read_list, set_quantity, update_list
from tests.helpers import run_cli
from tests.tui.conftest import SIZE, answer, settle, until
from tui.screens.inventory import InventoryScreen


def stored(db: Any) -> dict[str, int]:
    """The quantities as any reader of the database sees them (merged, derived)."""
    return {row["key"]: row["value"] for row in items_view(read_list(db))}


def stored_item(db: Any, name: str) -> dict[str, Any]:
    return next(row for row in items_view(read_list(db)) if row["key"] == name)


def shown(app: Any) -> dict[str, int]:
    tables = app.screen.query("#items").results(DataTable)
    table = next(tables, None)
    if table is None:
        return {}
    return {str(table.get_row_at(i)[0]): int(str(table.get_row_at(i)[1]))
            for i in range(table.row_count)}


def cursor_item(app: Any) -> str | None:
    screen = app.screen
    assert isinstance(screen, InventoryScreen)
    return screen.current_item()


async def start(app: Any, pilot: Any) -> None:
    await until(pilot, lambda: isinstance(app.screen, InventoryScreen) and bool(shown(app)))


@pytest.mark.anyio
async def test_plus_and_minus_save_the_new_quantity(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("plus", "plus", "minus")
        await settle(pilot)
        assert stored(db)["Apples"] == 11
        assert shown(app)["Apples"] == 11


@pytest.mark.anyio
async def test_a_change_records_who_made_it_where(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("down", "plus")
        await settle(pilot)
        last = stored_item(db, "Beets")["last"]
        assert last["user"] == "bob" and last["device"] == "kiosk-1"


@pytest.mark.anyio
async def test_minus_below_zero_is_refused_with_a_notification(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("down", "down", "down", "minus")  # Figs: 0 in stock
        await settle(pilot)
        assert stored(db)["Figs"] == 0
        assert any("only 0 Figs" in n.message for n in app._notifications)


@pytest.mark.anyio
async def test_equals_sets_an_exact_quantity(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("down", "down", "equals_sign")
        await pilot.press(*"42", "enter")  # the offered value is selected: typing replaces it
        await settle(pilot)
        assert stored(db)["Carrots"] == 42


@pytest.mark.anyio
async def test_escape_cancels_setting_a_quantity(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("s", "9", "escape")
        await settle(pilot)
        assert stored(db)["Apples"] == 10
        assert isinstance(app.screen, InventoryScreen)


@pytest.mark.anyio
async def test_add_rename_and_delete_an_item(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("a", *"Kale", "enter")
        await settle(pilot)
        assert stored(db)["Kale"] == 0
        assert "Kale" in shown(app)

        await pilot.press("home", "r")  # Home goes to the first row
        await answer(pilot, "Red apples")
        await settle(pilot)
        assert "Apples" not in stored(db) and stored(db)["Red apples"] == 10

        await pilot.press("home", "d", "y")
        await settle(pilot)
        assert "Beets" not in stored(db) and "Beets" not in shown(app)


@pytest.mark.anyio
async def test_delete_asks_first_and_no_keeps_the_item(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("d")
        await settle(pilot)
        assert type(app.screen).__name__ == "ConfirmDialog"
        await pilot.press("n")
        await settle(pilot)
        assert "Apples" in stored(db)


@pytest.mark.anyio
async def test_a_change_from_another_process_shows_without_moving_the_cursor(
        make_app: Any, db: Any, data_dir: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("down", "down")  # on Carrots
        for args in (("adjust", "Apples", "-7"), ("set", "Asparagus", "7")):  # a row above
            done = await anyio.to_thread.run_sync(
                lambda a=args: run_cli("--data-dir", str(data_dir), "--user", "bob", *a))
            assert done.returncode == 0, done.stderr
        await until(pilot, lambda: shown(app).get("Asparagus") == 7)
        assert shown(app)["Apples"] == 3
        assert app.screen.rows[cursor_item(app)].key == "Carrots"


@pytest.mark.anyio
async def test_a_lost_save_race_is_retried_and_noted(make_app: Any, db: Any) -> None:
    app = make_app()
    real_save = db.save
    raced = []

    def racing_save(doc_id: str, body: dict[str, Any], *, rev: str | None) -> str:
        if not raced:  # someone else saves first, once
            raced.append(True)
            doc = db.get("list")
            real_save("list", set_quantity(doc.body, "Beets", 99, device="other", user="eve",
                                           now=0.0), rev=doc.rev)
        return real_save(doc_id, body, rev=rev)

    db.save = racing_save
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("plus")
        await settle(pilot)
        assert stored(db)["Apples"] == 11 and stored(db)["Beets"] == 99
        assert any("applied on top" in n.message for n in app._notifications)


@pytest.mark.anyio
async def test_p_sets_a_picture_from_a_file_and_the_pane_draws_it(
        make_app: Any, db: Any, tmp_path: Any) -> None:
    from tests.tui.conftest import picture
    from tui.widgets.picture import Picture

    path = tmp_path / "beets.png"
    path.write_bytes(picture((120, 0, 80)))
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("down", "p")
        await answer(pilot, str(path))
        await settle(pilot)
        image = stored_item(db, "Beets")["image"]
        assert db.blobs.read(image["digest"]) == path.read_bytes()
        await until(pilot, lambda: app.screen.query_one(Picture).data == path.read_bytes())


@pytest.mark.anyio
async def test_a_missing_picture_file_is_one_sentence(make_app: Any, db: Any) -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await start(app, pilot)
        await pilot.press("p")
        await answer(pilot, "/nonexistent/x.png")
        await settle(pilot)
        assert [n.message for n in app._notifications] == [
            "Could not read /nonexistent/x.png: No such file or directory."]


@pytest.mark.anyio
async def test_concurrent_changes_from_a_peer_are_merged_and_noted(
        make_app: Any, db: Any, tmp_path: Any) -> None:
    peer = open_user_db(tmp_path / "peer", "eve")
    try:
        for row in items_view(read_list(db)):  # both start alike, pictures and all
            if "image" in row:
                peer.blobs.put(db.blobs.read(row["image"]["digest"]), "image/png")
        peer.put_revisions([db.get_rev("list", db.get("list").rev)])
        update_list(peer, lambda body: adjust(body, "Beets", -3, device="eve-pi", user="eve",
                                              now=0.0))
        app = make_app()
        async with app.run_test(size=SIZE) as pilot:
            await start(app, pilot)
            await pilot.press("plus")  # Apples, here, at the same time
            await settle(pilot)
            theirs = peer.get_rev("list", peer.get("list").rev)
            await anyio.to_thread.run_sync(db.put_revisions, [theirs])  # as a sync would
            await until(pilot, lambda: shown(app)["Beets"] == 1)
            assert shown(app)["Apples"] == 11 and db.conflicts("list") == []
            await settle(pilot)
            assert any(n.title == "Merged" for n in app._notifications)
            assert [e.kind for e in app.activity] == ["conflict"]
    finally:
        peer.close()
