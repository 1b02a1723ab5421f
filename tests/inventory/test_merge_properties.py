"""Property test: replicas editing and merging at random converge without losing a sale.

3-5 replicas start from a legacy list, make random edits (adjust, set, add,
rename, picture, delete, foreign-writer value edits) and merge pairwise in random
directions, repeatedly and criss-cross. After every step the merge of all
replicas must be order-independent, absorb every replica, and hold exactly the
items created and not deleted, each at its initial quantity plus every change
made to it anywhere. LISTSYNC_LONG=1 runs about 110,000 steps (5 minutes) instead of ~1,400.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from engine.errors import UsageError
from engine.inventory import (
    add_item,
    adjust,
    canonical_bytes,
    delete_item,
    find_item,
    items_view,
    legacy_item_id,
    merge_list_bodies,
    rename_item,
    set_image,
    set_quantity,
)

LONG = os.environ.get("LISTSYNC_LONG") == "1"
START = {"type": "list", "items": [{"key": "Apples", "value": 10}, {"key": "Beets", "value": 4},
                                   {"key": "Corn", "value": 90}]}
NAMES = ["Apples", "Beets", "Corn", "Dates", "Figs", "apples"]
IMAGES = [None, *({"@type": "blob", "digest": f"sha256-{c * 64}", "length": 9,
                   "content_type": "image/png"} for c in "abc")]
Body = dict[str, Any]


def _canon(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Replicas(RuleBasedStateMachine):
    """The system under test (bodies) beside a model of what must come out."""

    @initialize(count=st.integers(3, 5))
    def start(self, count: int) -> None:
        self.bodies: list[Body] = [copy.deepcopy(START) for _ in range(count)]
        self.expected: dict[str, int] = {legacy_item_id(i["key"]): i["value"]
                                         for i in START["items"]}
        self.removed: set[str] = set()
        self.key_reg = {legacy_item_id(i["key"]): ((0, ""), i["key"]) for i in START["items"]}
        self.image_reg = {i: ((0, ""), "null") for i in self.expected}
        self.foreign_edits = 0

    def _who(self, r: int) -> tuple[int, dict[str, Any]]:
        r %= len(self.bodies)
        return r, {"device": f"dev{r}", "user": f"user{r}", "now": 1.7e9 + r}

    def _pick(self, r: int, k: int) -> dict[str, Any] | None:
        rows = items_view(self.bodies[r])
        return rows[k % len(rows)] if rows else None

    def _raw(self, r: int, item_id: str) -> dict[str, Any]:
        return next(i for i in self.bodies[r]["items"] if i["id"] == item_id)

    @rule(r=st.integers(0, 4), k=st.integers(0, 50), delta=st.integers(-5, 5))
    def adjust(self, r: int, k: int, delta: int) -> None:
        r, who = self._who(r)
        row = self._pick(r, k)
        if row is not None:
            self.bodies[r] = adjust(self.bodies[r], row["id"], delta, **who)
            self.expected[row["id"]] += delta

    @rule(r=st.integers(0, 4), k=st.integers(0, 50), qty=st.integers(0, 30))
    def set_quantity(self, r: int, k: int, qty: int) -> None:
        r, who = self._who(r)
        row = self._pick(r, k)
        if row is not None:
            target = find_item(self.bodies[r], row["key"])  # first row by that name
            assert target is not None
            self.bodies[r] = set_quantity(self.bodies[r], row["key"], qty, **who)
            after = find_item(self.bodies[r], target["id"])
            assert after is not None and after["value"] == qty
            self.expected[target["id"]] += qty - target["value"]

    @rule(r=st.integers(0, 4), name=st.sampled_from(NAMES), qty=st.integers(0, 9),
          image=st.sampled_from(IMAGES))
    def add(self, r: int, name: str, qty: int, image: dict[str, Any] | None) -> None:
        r, who = self._who(r)
        before = {row["id"] for row in items_view(self.bodies[r])}
        try:
            self.bodies[r] = add_item(self.bodies[r], name, qty, image=image, **who)
        except UsageError:
            assert find_item(self.bodies[r], name) is not None
            return
        (new,) = [row for row in items_view(self.bodies[r]) if row["id"] not in before]
        assert new["id"] not in self.expected
        self.expected[new["id"]] = qty
        raw = self._raw(r, new["id"])
        self.key_reg[new["id"]] = (tuple(raw["key_at"]), name)
        self.image_reg[new["id"]] = (tuple(raw["image_at"]), _canon(image))

    @rule(r=st.integers(0, 4), k=st.integers(0, 50), name=st.sampled_from(NAMES))
    def rename(self, r: int, k: int, name: str) -> None:
        r, who = self._who(r)
        row = self._pick(r, k)
        if row is None:
            return
        try:
            self.bodies[r] = rename_item(self.bodies[r], row["id"], name, **who)
        except UsageError:
            return
        stamp = tuple(self._raw(r, row["id"])["key_at"])
        self.key_reg[row["id"]] = max(self.key_reg[row["id"]], (stamp, name))

    @rule(r=st.integers(0, 4), k=st.integers(0, 50), image=st.sampled_from(IMAGES))
    def set_image(self, r: int, k: int, image: dict[str, Any] | None) -> None:
        r, who = self._who(r)
        row = self._pick(r, k)
        if row is not None:
            self.bodies[r] = set_image(self.bodies[r], row["id"], image, **who)
            stamp = tuple(self._raw(r, row["id"])["image_at"])
            self.image_reg[row["id"]] = max(self.image_reg[row["id"]], (stamp, _canon(image)))

    @rule(r=st.integers(0, 4), k=st.integers(0, 50))
    def delete(self, r: int, k: int) -> None:
        r, who = self._who(r)
        row = self._pick(r, k)
        if row is not None:
            self.bodies[r] = delete_item(self.bodies[r], row["id"], **who)
            self.removed.add(row["id"])

    @rule(r=st.integers(0, 4), k=st.integers(0, 50), delta=st.integers(-3, 3))
    def foreign_value_edit(self, r: int, k: int, delta: int) -> None:
        """A writer that knows nothing of counters rewrites `value` (and a note of its own)."""
        r, _ = self._who(r)
        row = self._pick(r, k)
        if row is not None and delta:
            body = merge_list_bodies([self.bodies[r]])   # on top of our merge state
            raw = next(i for i in body["items"] if i["id"] == row["id"])
            raw["value"] += delta
            self.foreign_edits += 1
            raw["note"] = f"edit {self.foreign_edits}"
            self.bodies[r] = body
            self.expected[row["id"]] += delta

    @rule(src=st.integers(0, 4), dst=st.integers(0, 4), both=st.booleans())
    def sync(self, src: int, dst: int, both: bool) -> None:
        src, dst = src % len(self.bodies), dst % len(self.bodies)
        merged = merge_list_bodies([self.bodies[dst], self.bodies[src]])
        if both:
            self.bodies[src] = merge_list_bodies([self.bodies[src], self.bodies[dst]])
            assert canonical_bytes(self.bodies[src]) == canonical_bytes(merged)
        self.bodies[dst] = merged

    @invariant()
    def full_merge_converges_without_losing_or_doubling_anything(self) -> None:
        merged = merge_list_bodies(self.bodies)
        reference = canonical_bytes(merged)
        assert canonical_bytes(merge_list_bodies(reversed(self.bodies))) == reference
        assert canonical_bytes(merge_list_bodies(self.bodies[1:] + self.bodies[:1])) == reference
        for body in self.bodies:   # every replica, synced with the rest, ends identical
            assert canonical_bytes(merge_list_bodies([body, merged])) == reference
        assert merge_list_bodies([merged, merged]) == merged
        live = {i["id"]: i for i in merged["items"]}
        assert set(live) == set(self.expected) - self.removed
        for item_id, item in live.items():
            assert item["value"] == self.expected[item_id], item["key"]
            assert item["key"] == self.key_reg[item_id][1]
            assert _canon(item.get("image")) == self.image_reg[item_id][1]
        assert merged["removed"] == sorted(self.removed)


Replicas.TestCase.settings = settings(
    max_examples=2500 if LONG else 60,   # ~1,400 steps in CI, ~110,000 with LISTSYNC_LONG=1
    stateful_step_count=50 if LONG else 25,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_replicas_converge = Replicas.TestCase
