"""The inventory as the app sees it: rows to show, and edits saved to the "list" document.

A thin layer over the engine's list API: reads are the merge of every live
leaf (`read_list` + `items_view`); each edit is a pure inventory operation
applied by `update_list`, which re-reads and retries when another writer saved
first. These calls block (the store fsyncs), so screens run them in workers
through `ListsyncApp.engine_call`. `open_in_background` opens a list in a
thread while the app is still loading, so its first paint shows the items.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from engine import (
    LIST_DOC_ID,
    UsageError,
    add_item,
    adjust,
    delete_item,
    find_item,
    items_view,
    merge_list_bodies,
    read_list,
    rename_item,
    set_image,
    set_quantity,
    update_list,
)

Body = dict[str, Any]
Opener = Callable[[Path, str, str], Any]  # (data dir, user, db name) -> Database


@dataclass(frozen=True)
class LastChange:
    """Where an item's last change came from."""

    device: str
    user: str
    at: str


@dataclass(frozen=True)
class ItemRow:
    """One inventory item as shown; `id` is stable across renames."""

    id: str
    key: str
    value: int
    image: dict[str, Any] | None = None
    last: LastChange | None = None


@dataclass(frozen=True)
class SaveResult:
    """What happened to one edit: how many times it had to be re-applied on newer data."""

    retries: int


def _when(at: object) -> str:
    if isinstance(at, int | float):
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))
    try:
        return datetime.fromisoformat(str(at)).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return str(at)


def _last(raw: object, this_device: str) -> LastChange | None:
    if not isinstance(raw, dict):
        return None
    device = str(raw.get("device", "?"))
    device = "this device" if device == this_device else f"device {device[:8]}"
    return LastChange(device, str(raw.get("user", "?")), _when(raw.get("at", "")))


def rows_of(body: Body, this_device: str = "") -> list[ItemRow]:
    """The items of a list body, sorted by name as the table shows them."""
    rows = [ItemRow(str(item["id"]), str(item["key"]), int(item["value"]), item.get("image"),
                    _last(item.get("last"), this_device))
            for item in items_view(body)]
    return sorted(rows, key=lambda row: (row.key.casefold(), row.id))


class Inventory:
    """One user's inventory list in one database; edits are stamped with this device."""

    def __init__(self, db: Any, *, user: str, device: str | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.user = user
        self.device = device or str(db.uuid)  # the counters' owner: one per database
        self._clock = clock

    def items(self) -> list[ItemRow]:
        return rows_of(read_list(self.db), self.device)

    def picture(self, image: dict[str, Any]) -> bytes:
        return bytes(self.db.blobs.read(str(image["digest"])))

    def revision_items(self, rev: str) -> list[ItemRow] | None:
        """The items of an older or losing revision, if its body is still kept."""
        revision = self.db.get_rev(LIST_DOC_ID, rev)
        if revision is None or revision.body is None:
            return None
        return rows_of(merge_list_bodies([revision.body]), self.device)

    def note_merges(self, noted: Callable[[str, str, tuple[str, ...]], None]) -> None:
        """Call `noted(doc_id, merged_rev, loser_revs)` whenever the store's resolver merges
        concurrent changes (revisions arriving from peers). May be called from any thread."""
        resolver = self.db.resolver
        if resolver is None:
            return

        def noting(db: Any, doc_id: str) -> None:
            losers = tuple(db.conflicts(doc_id))
            resolver(db, doc_id)
            doc = db.get(doc_id)
            if losers and doc is not None and not db.conflicts(doc_id):
                noted(doc_id, str(doc.rev), losers)

        self.db.resolver = noting

    # Edits: each names the item by its id ----------------------------------------

    def adjust(self, item: str, delta: int) -> SaveResult:
        def edit(body: Body) -> Body:
            row = find_item(body, item)
            if row is not None and row["value"] + delta < 0:
                raise UsageError(f"There are only {row['value']} {row['key']} left.")
            return adjust(body, item, delta, **self._stamp())

        return self._change(edit)

    def set_quantity(self, item: str, value: int) -> SaveResult:
        return self._change(lambda body: set_quantity(body, item, value, **self._stamp()))

    def rename(self, item: str, new_name: str) -> SaveResult:
        return self._change(lambda body: rename_item(body, item, new_name, **self._stamp()))

    def add_item(self, name: str, value: int = 0) -> SaveResult:
        return self._change(lambda body: add_item(body, name, value, **self._stamp()))

    def delete_item(self, item: str) -> SaveResult:
        return self._change(lambda body: delete_item(body, item, **self._stamp()))

    def set_image(self, item: str, path: Path) -> SaveResult:
        try:
            data = path.expanduser().read_bytes()
        except OSError as err:
            raise UsageError(f"Could not read {path}: {err.strerror or err}.") from err
        content_type = "image/jpeg" if path.suffix.lower() in {".jpg", ".jpeg"} else "image/png"
        ref = self.db.blobs.put(data, content_type)
        return self._change(lambda body: set_image(body, item, ref, **self._stamp()))

    def _stamp(self) -> dict[str, Any]:
        return {"device": self.device, "user": self.user, "now": self._clock()}

    def _change(self, edit: Callable[[Body], Body]) -> SaveResult:
        attempts = 0

        def counted(body: Body) -> Body:
            nonlocal attempts
            attempts += 1
            return edit(body)

        update_list(self.db, counted)
        return SaveResult(retries=attempts - 1)


@dataclass(frozen=True)
class Opened:
    """A user's list, opened and read once: what the inventory's first paint shows."""

    inventory: Inventory
    since: int  # the database's update_seq the rows are as of
    rows: list[ItemRow]


def open_list(opener: Opener, data_dir: Path, user: str, db_name: str,
              device: str | None = None) -> Opened:
    """Open a user's database and read the list (blocking; EngineError if it cannot)."""
    db = opener(data_dir, user, db_name)
    try:
        inventory = Inventory(db, user=user, device=device)
        since = int(db.update_seq)
        return Opened(inventory, since, inventory.items())
    except BaseException:
        db.close()
        raise


def open_in_background(opener: Opener, data_dir: Path, user: str, db_name: str,
                       device: str | None = None) -> Future[Opened]:
    """`open_list` in a thread of its own, started now: the disk work overlaps loading the UI."""
    future: Future[Opened] = Future()

    def run() -> None:
        try:
            future.set_result(open_list(opener, data_dir, user, db_name, device))
        except BaseException as err:  # handed to whoever waits for the result
            future.set_exception(err)

    threading.Thread(target=run, name="listsync-open", daemon=True).start()
    return future
