"""The inventory as the app sees it: rows to show, and edits saved to the "list" document.

Every edit is read-modify-write with optimistic concurrency: save names the
revision it edited, and a ConflictError (someone saved first) means re-read
and re-apply. These calls block (the store fsyncs), so screens run them in
workers through `ListsyncApp.engine_call`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import ConflictError, EngineError, UsageError

LIST_ID = "list"
MAX_RETRIES = 20  # a save only loses a race to another writer; 20 in a row means something is wrong

Body = dict[str, Any]


@dataclass(frozen=True)
class LastChange:
    """Where an item's last change came from."""

    device: str
    user: str
    at: str


@dataclass(frozen=True)
class ItemRow:
    """One inventory item as shown: name, quantity, picture reference, last change."""

    key: str
    value: int
    image: dict[str, Any] | None = None
    last: LastChange | None = None


@dataclass(frozen=True)
class SaveResult:
    """What happened to one edit: the new revision and how many races it lost first."""

    rev: str
    retries: int


def _last(item: dict[str, Any]) -> LastChange | None:
    last = item.get("last")
    if not isinstance(last, dict):
        return None
    at = last.get("at", "")
    if isinstance(at, int | float):
        at = time.strftime("%Y-%m-%d %H:%M", time.localtime(at))
    return LastChange(str(last.get("device", "?")), str(last.get("user", "?")), str(at))


def rows_of(body: Body | None) -> list[ItemRow]:
    """The items of a list body, sorted by name as the table shows them."""
    items = (body or {}).get("items") or []
    rows = [
        ItemRow(str(item["key"]), int(item.get("value", 0)), item.get("image"), _last(item))
        for item in items if isinstance(item, dict) and "key" in item
    ]
    return sorted(rows, key=lambda row: row.key.casefold())


class Inventory:
    """One user's inventory list in one database."""

    def __init__(self, db: Any, *, user: str, device: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.user = user
        self.device = device
        self._clock = clock

    def items(self) -> list[ItemRow]:
        doc = self.db.get(LIST_ID)
        return [] if doc is None or doc.deleted else rows_of(doc.body)

    def picture(self, image: dict[str, Any]) -> bytes:
        digest = str(image["digest"])
        return bytes(self.db.blobs.read(digest))

    def conflicts(self) -> list[str]:
        return list(self.db.conflicts(LIST_ID))

    def revision_items(self, rev: str) -> list[ItemRow] | None:
        """The items of an older or losing revision, if its body is still kept."""
        revision = self.db.get_rev(LIST_ID, rev)
        if revision is None or revision.body is None:
            return None
        return rows_of(revision.body)

    # Edits ------------------------------------------------------------------

    def adjust(self, key: str, delta: int) -> SaveResult:
        def edit(item: dict[str, Any]) -> None:
            if item["value"] + delta < 0:
                raise UsageError(f"There are only {item['value']} {key} left.")
            item["value"] += delta

        return self._edit_item(key, edit)

    def set_quantity(self, key: str, value: int) -> SaveResult:
        if value < 0:
            raise UsageError("A quantity cannot be negative.")
        return self._edit_item(key, lambda item: item.__setitem__("value", value))

    def rename(self, key: str, new_key: str) -> SaveResult:
        new_key = _clean_name(new_key)

        def edit(body: Body) -> None:
            if new_key != key and _find(body, new_key) is not None:
                raise UsageError(f"There is already an item called {new_key}.")
            item = _require(body, key)
            item["key"] = new_key
            self._stamp(item)

        return self._change(edit)

    def add_item(self, key: str, value: int = 0) -> SaveResult:
        key = _clean_name(key)

        def edit(body: Body) -> None:
            if _find(body, key) is not None:
                raise UsageError(f"There is already an item called {key}.")
            item: dict[str, Any] = {"key": key, "value": value}
            self._stamp(item)
            body.setdefault("items", []).append(item)

        return self._change(edit)

    def delete_item(self, key: str) -> SaveResult:
        def edit(body: Body) -> None:
            _require(body, key)
            body["items"] = [i for i in body["items"] if i.get("key") != key]

        return self._change(edit)

    def set_image(self, key: str, path: Path) -> SaveResult:
        try:
            data = path.expanduser().read_bytes()
        except OSError as err:
            raise UsageError(f"Could not read {path}: {err.strerror or err}.") from err
        content_type = "image/jpeg" if path.suffix.lower() in {".jpg", ".jpeg"} else "image/png"
        ref = self.db.blobs.put(data, content_type)
        return self._edit_item(key, lambda item: item.__setitem__("image", ref))

    def _stamp(self, item: dict[str, Any]) -> None:
        item["last"] = {"device": self.device, "user": self.user, "at": self._clock()}

    def _edit_item(self, key: str, edit: Callable[[dict[str, Any]], None]) -> SaveResult:
        def edit_body(body: Body) -> None:
            item = _require(body, key)
            edit(item)
            self._stamp(item)

        return self._change(edit_body)

    def _change(self, edit: Callable[[Body], None]) -> SaveResult:
        for retries in range(MAX_RETRIES):
            doc = self.db.get(LIST_ID)
            live = doc is not None and not doc.deleted
            body: Body = copy.deepcopy(doc.body) if live else {"type": "list", "items": []}
            edit(body)
            try:
                rev = self.db.save(LIST_ID, body, rev=doc.rev if doc is not None else None)
            except ConflictError:
                continue  # another writer got in first: re-read and re-apply
            return SaveResult(str(rev), retries)
        raise EngineError("The list kept changing underneath this edit; try again.")


def _clean_name(name: str) -> str:
    name = " ".join(name.split())
    if not name:
        raise UsageError("An item needs a name.")
    return name


def _find(body: Body, key: str) -> dict[str, Any] | None:
    for item in body.get("items") or []:
        if isinstance(item, dict) and item.get("key") == key:
            return item
    return None


def _require(body: Body, key: str) -> dict[str, Any]:
    item = _find(body, key)
    if item is None:
        raise UsageError(f"{key} is no longer on the list.")
    return item
