"""The inventory list document and its conflict-free merge (pure: no I/O, no clocks).

Theory of operation. The list is one document ("list") whose body is a
state-based CRDT, so any two copies merge without losing a sale:

* Each item has a stable `id` (independent of its name, so renames merge),
  a `base` quantity and a PN-counter `pn = {"p": {device: n}, "n": {device: n}}`:
  a device only ever grows its own two entries, merging takes the pointwise
  maximum, and `value = base + sum(p) - sum(n)` is derived. Merging the same
  copy twice, or criss-cross, can therefore never count a sale twice.
* The name (`key`), picture (`image`) and `last` (who changed it, for the UI)
  are last-writer-wins registers stamped with `[lamport clock, device]`; ties
  (only possible from foreign writers) break on the canonical JSON of the value.
* `removed` is the union of deleted item ids: a deleted item stays deleted.
  Adding an item always makes a fresh id (from device and clock), so a name
  deleted earlier comes back when added again, and two concurrent adds of one
  name both survive as two rows rather than one silently swallowing the other.
* The body-level `clock` is a Lamport clock: every operation stamps with
  `clock + 1`, and merging takes the maximum.

Every field is joined with a commutative, associative, idempotent operation,
and the output is canonical (sorted items, no zero counter entries), so any
peers merging the same set of leaves produce byte-identical bodies, hence
identical revision ids.

Legacy bodies (plain `{"key", "value"}` items, as samplelist.json or a
foreign writer has them) are normalised on read: the id is derived from the
case-folded name (`legacy_item_id`), `base = value`, no counters. If a foreign
writer changed `value` of an item that has counters, the difference counts as
one adjustment by the pseudo-device `ext-<sha256 of that item's JSON>`, so
merging that body again, anywhere, adds it only once (two foreign edits of
byte-identical item content are indistinguishable and count once). A writer
that strips our fields yields a legacy item with the same id; merged with a
copy that has counters, its `base` joins by maximum: deterministic, best effort.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.errors import NotFoundError, UsageError

LIST_DOC_ID = "list"
LIST_TYPE = "list"
MAX_NAME_CHARS = 100

Body = dict[str, Any]
Stamp = tuple[int, str]
_NO_STAMP: Stamp = (0, "")
_BAD_NAME_RE = re.compile(r"[\x00-\x1f\x7f]")


def canonical_bytes(body: Body) -> bytes:
    """The body as the store hashes it: sorted keys, compact, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def _canon(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def legacy_item_id(name: str) -> str:
    """The id a plain `{"key", "value"}` item gets: derived from its case-folded name,
    so every peer normalising the same sample list agrees on it."""
    return "k-" + _sha(name.casefold())[:16]


def new_item_id(device: str, clock: int) -> str:
    """The id of an item added by `device` at Lamport time `clock`: unique per add, so
    two kiosks adding the same name concurrently keep both (a visible duplicate)
    rather than one add silently vanishing into the other's deletion."""
    return "i-" + _sha(f"{device}\x00{clock}")[:16]


def is_list_body(body: object) -> bool:
    return isinstance(body, dict) and body.get("type") == LIST_TYPE


@dataclass(slots=True)
class _Item:
    id: str
    key: str
    key_at: Stamp = _NO_STAMP
    image: dict[str, Any] | None = None
    image_at: Stamp = _NO_STAMP
    base: int = 0
    p: dict[str, int] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)
    last: dict[str, Any] | None = None

    @property
    def value(self) -> int:
        return self.base + sum(self.p.values()) - sum(self.n.values())

    def join(self, other: _Item) -> None:
        """Fold `other` (same id) into this item: the lattice join of every field."""
        if (other.key_at, other.key) > (self.key_at, self.key):
            self.key, self.key_at = other.key, other.key_at
        if (other.image_at, _canon(other.image)) > (self.image_at, _canon(self.image)):
            self.image, self.image_at = other.image, other.image_at
        self.base = max(self.base, other.base)
        for mine, theirs in ((self.p, other.p), (self.n, other.n)):
            for device, count in theirs.items():
                mine[device] = max(mine.get(device, 0), count)
        if _last_order(other.last) > _last_order(self.last):
            self.last = other.last

    def to_json(self) -> Body:
        out: Body = {
            "id": self.id, "key": self.key, "value": self.value, "base": self.base,
            "pn": {"p": _counts(self.p), "n": _counts(self.n)},
            "key_at": list(self.key_at), "image_at": list(self.image_at),
        }
        if self.image is not None:
            out["image"] = self.image
        if self.last is not None:
            out["last"] = self.last
        return out


def _counts(entries: dict[str, int]) -> dict[str, int]:
    return {device: count for device, count in sorted(entries.items()) if count > 0}


def _last_order(last: dict[str, Any] | None) -> tuple[Stamp, str]:
    return (_stamp(last.get("stamp")) if last else _NO_STAMP, _canon(last))


@dataclass(slots=True)
class _State:
    items: dict[str, _Item] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    clock: int = 0

    def join(self, other: _State) -> None:
        self.removed |= other.removed
        self.clock = max(self.clock, other.clock)
        for item_id_, item in other.items.items():
            mine = self.items.get(item_id_)
            if mine is None:
                self.items[item_id_] = _copy(item)
            else:
                mine.join(item)

    def to_json(self) -> Body:
        live = [i for i in self.items.values() if i.id not in self.removed]
        live.sort(key=lambda i: (i.key.casefold(), i.key, i.id))
        return {"type": LIST_TYPE, "clock": self.clock,
                "items": [i.to_json() for i in live], "removed": sorted(self.removed)}

    def live(self) -> list[_Item]:
        return [i for i in self.items.values() if i.id not in self.removed]


def _copy(item: _Item) -> _Item:
    return _Item(item.id, item.key, item.key_at, item.image, item.image_at, item.base,
                 dict(item.p), dict(item.n), item.last)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stamp(value: object) -> Stamp:
    if (isinstance(value, list | tuple) and len(value) == 2 and _int(value[0]) is not None
            and isinstance(value[1], str)):
        return (int(value[0]), value[1])
    return _NO_STAMP


def _counter(value: object) -> dict[str, int]:
    if not isinstance(value, dict):
        return {}
    counts: dict[str, int] = {}
    for device, raw in value.items():
        count = _int(raw)
        if isinstance(device, str) and count is not None and count > 0:
            counts[device] = count
    return counts


def _parse_item(raw: object) -> _Item | None:
    """One stored item, normalised; None for garbage a foreign writer left."""
    if not isinstance(raw, dict) or not isinstance(raw.get("key"), str):
        return None
    key: str = raw["key"]
    value = _int(raw.get("value"))
    rid = raw.get("id")
    item = _Item(id=rid if isinstance(rid, str) and rid else legacy_item_id(key), key=key,
                 key_at=_stamp(raw.get("key_at")), image_at=_stamp(raw.get("image_at")))
    image = raw.get("image")
    item.image = copy.deepcopy(image) if isinstance(image, dict) else None
    last = raw.get("last")
    item.last = copy.deepcopy(last) if isinstance(last, dict) else None
    pn = raw.get("pn")
    if not isinstance(pn, dict) and "base" not in raw:
        item.base = value if value is not None else 0   # legacy {"key", "value"} item
        return item
    item.base = _int(raw.get("base")) or 0
    if isinstance(pn, dict):
        item.p, item.n = _counter(pn.get("p")), _counter(pn.get("n"))
    if value is not None and value != item.value:
        # A writer that knows nothing of counters changed `value`: one adjustment,
        # attributed to a device named after the exact content, so it counts once.
        pseudo = "ext-" + _sha(_canon(raw))[:16]
        side = item.p if value > item.value else item.n
        side[pseudo] = side.get(pseudo, 0) + abs(value - item.value)
    return item


def _parse(body: object) -> _State:
    state = _State()
    if not isinstance(body, dict):
        return state
    state.clock = max(_int(body.get("clock")) or 0, 0)
    removed = body.get("removed")
    if isinstance(removed, list):
        state.removed = {r for r in removed if isinstance(r, str)}
    raw_items = body.get("items")
    for raw in raw_items if isinstance(raw_items, list) else []:
        item = _parse_item(raw)
        if item is None:
            continue
        state.clock = max(state.clock, item.key_at[0], item.image_at[0],
                          _last_order(item.last)[0][0])
        if item.id in state.items:
            state.items[item.id].join(item)
        else:
            state.items[item.id] = item
    return state


def normalise(body: Body) -> Body:
    """A body (legacy or not) in canonical merge-ready form."""
    return _parse(body).to_json()


def merge_list_bodies(bodies: Iterable[Body]) -> Body:
    """The join of list bodies: commutative, associative, idempotent, canonical."""
    state = _State()
    for body in bodies:
        state.join(_parse(body))
    return state.to_json()


# ---- reading ----------------------------------------------------------------

def items_view(body: Body) -> list[Body]:
    """What readers show: [{"key", "value", "image"?, "id", "last"}] in list order."""
    rows = []
    for item in _parse(body).to_json()["items"]:
        row = {"key": item["key"], "value": item["value"], "id": item["id"],
               "last": item.get("last")}
        if "image" in item:
            row["image"] = item["image"]
        rows.append(row)
    return rows


def find_item(body: Body, name_or_id: str) -> Body | None:
    """The items_view row with this id, else the first whose name matches case-insensitively."""
    rows = items_view(body)
    for row in rows:
        if row["id"] == name_or_id:
            return row
    folded = name_or_id.strip().casefold()
    return next((row for row in rows if row["key"].casefold() == folded), None)


# ---- operations: each returns a new canonical body ----------------------------

def check_name(name: object) -> str:
    """A usable item name, stripped; UsageError saying what is wrong otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise UsageError("An item name must be non-empty text.")
    name = name.strip()
    if len(name) > MAX_NAME_CHARS or _BAD_NAME_RE.search(name):
        raise UsageError(f"An item name must be at most {MAX_NAME_CHARS} characters "
                         "with no control characters.")
    return name


def _check_int(value: object, what: str) -> int:
    number = _int(value)
    if number is None:
        raise UsageError(f"The {what} must be a whole number, not {value!r}.")
    return number


class _Edit:
    """One operation in progress: the parsed state and the stamp it writes with."""

    def __init__(self, body: Body, device: str, user: str, now: float) -> None:
        if not isinstance(device, str) or not device:
            raise UsageError("A device id must be non-empty text.")
        self.state = _parse(body)
        self.state.clock += 1
        self.stamp: Stamp = (self.state.clock, device)
        self.device = device
        self.last = {"device": device, "user": user, "stamp": list(self.stamp),
                     "at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds")}

    def find(self, name_or_id: str) -> _Item:
        live = sorted(self.state.live(), key=lambda i: (i.key.casefold(), i.key, i.id))
        for item in live:
            if item.id == name_or_id:
                return item
        folded = name_or_id.strip().casefold()
        for item in live:
            if item.key.casefold() == folded:
                return item
        raise NotFoundError(f"There is no item called {name_or_id!r} in the list.")

    def adjust(self, item: _Item, delta: int) -> None:
        side = item.p if delta > 0 else item.n
        side[self.device] = side.get(self.device, 0) + abs(delta)
        item.last = self.last

    def add(self, name: str, qty: int, image: dict[str, Any] | None) -> _Item:
        folded = name.casefold()
        if any(i.key.casefold() == folded for i in self.state.live()):
            raise UsageError(f"The list already has an item called {name!r}.")
        item = _Item(id=new_item_id(self.device, self.stamp[0]), key=name, key_at=self.stamp,
                     image=copy.deepcopy(image), image_at=self.stamp)
        self.state.items[item.id] = item
        self.adjust(item, qty)
        return item

    def done(self) -> Body:
        return self.state.to_json()


def adjust(body: Body, item: str, delta: int, *, device: str, user: str,
           now: float) -> Body:
    """Add `delta` (may be negative) to an item's quantity, as `device`'s own count."""
    delta = _check_int(delta, "quantity change")
    edit = _Edit(body, device, user, now)
    edit.adjust(edit.find(item), delta)
    return edit.done()


def set_quantity(body: Body, item: str, qty: int, *, device: str, user: str,
                 now: float) -> Body:
    """Set a quantity (an adjustment by the difference); adds the item if no name matches."""
    qty = _check_int(qty, "quantity")
    if qty < 0:
        raise UsageError(f"A quantity cannot be negative ({qty}).")
    edit = _Edit(body, device, user, now)
    try:
        found = edit.find(item)
    except NotFoundError:
        edit.add(check_name(item), qty, None)
    else:
        edit.adjust(found, qty - found.value)
    return edit.done()


def add_item(body: Body, name: str, qty: int, *, image: dict[str, Any] | None = None,
             device: str, user: str, now: float) -> Body:
    """Add a new item (UsageError if the name is taken). Its quantity is `device`'s count."""
    qty = _check_int(qty, "quantity")
    if qty < 0:
        raise UsageError(f"A quantity cannot be negative ({qty}).")
    edit = _Edit(body, device, user, now)
    edit.add(check_name(name), qty, image)
    return edit.done()


def rename_item(body: Body, item: str, new_name: str, *, device: str, user: str,
                now: float) -> Body:
    """Rename an item; UsageError if another live item already has that name."""
    new_name = check_name(new_name)
    edit = _Edit(body, device, user, now)
    found = edit.find(item)
    folded = new_name.casefold()
    if any(i.key.casefold() == folded and i is not found for i in edit.state.live()):
        raise UsageError(f"The list already has an item called {new_name!r}.")
    found.key, found.key_at, found.last = new_name, edit.stamp, edit.last
    return edit.done()


def set_image(body: Body, item: str, image: dict[str, Any] | None, *, device: str,
              user: str, now: float) -> Body:
    """Set (or with None, remove) an item's picture, a blob reference."""
    edit = _Edit(body, device, user, now)
    found = edit.find(item)
    found.image, found.image_at, found.last = copy.deepcopy(image), edit.stamp, edit.last
    return edit.done()


def delete_item(body: Body, item: str, *, device: str, user: str, now: float) -> Body:
    """Delete an item for good; adding its name again later makes a new item."""
    edit = _Edit(body, device, user, now)
    edit.state.removed.add(edit.find(item).id)
    return edit.done()
