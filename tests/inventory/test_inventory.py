"""Specs for the inventory list document: operations, merge rules, legacy bodies."""

from __future__ import annotations

import copy
import itertools
import json

import pytest

from engine.errors import NotFoundError, UsageError
from engine.inventory import (
    add_item,
    adjust,
    canonical_bytes,
    delete_item,
    find_item,
    items_view,
    legacy_item_id,
    merge_list_bodies,
    normalise,
    rename_item,
    set_image,
    set_quantity,
)
from engine.resources import data_dir

NOW = 1_800_000_000.0
LEGACY = {"type": "list", "items": [{"key": "Apples", "value": 10},
                                    {"key": "Arugula", "value": 100}]}


def kiosk(device: str, user: str = "bob") -> dict[str, object]:
    return {"device": device, "user": user, "now": NOW}


def value(body: dict, name: str) -> int:
    row = find_item(body, name)
    assert row is not None, name
    return int(row["value"])


def names(body: dict) -> list[str]:
    return [row["key"] for row in items_view(body)]


def blob(n: int) -> dict:
    return {"@type": "blob", "digest": "sha256-" + f"{n:x}" * 64, "length": n,
            "content_type": "image/png"}


def test_shipped_sample_normalises_to_42_items_with_name_derived_ids() -> None:
    sample = json.loads((data_dir() / "samplelist.json").read_text())
    rows = items_view(sample)
    assert len(rows) == 42
    assert (rows[0]["key"], rows[0]["value"]) == ("Apples", 10)
    assert (rows[-1]["key"], rows[-1]["value"]) == ("Zucchini", 12)
    assert rows[0]["id"] == legacy_item_id("apples")
    assert canonical_bytes(normalise(sample)) == canonical_bytes(normalise(copy.deepcopy(sample)))


def test_two_kiosks_each_selling_an_apple_leave_two_fewer_in_any_merge_order() -> None:
    a = adjust(LEGACY, "Apples", -1, **kiosk("A"))
    b = adjust(LEGACY, "apples", -1, **kiosk("B"))
    ab, ba = merge_list_bodies([a, b]), merge_list_bodies([b, a])
    assert canonical_bytes(ab) == canonical_bytes(ba)
    assert value(ab, "Apples") == 8


def test_repeated_and_criss_cross_merges_never_count_a_sale_twice() -> None:
    a = adjust(LEGACY, "Apples", -1, **kiosk("A"))
    b = adjust(LEGACY, "Apples", -2, **kiosk("B"))
    a2 = merge_list_bodies([a, b])
    b2 = merge_list_bodies([b, a])
    a3 = adjust(a2, "Apples", -1, **kiosk("A"))
    b3 = merge_list_bodies([b2, a2, a, b])
    final = merge_list_bodies([a3, b3, a3, a2, b, merge_list_bodies([a3, b3])])
    assert value(final, "Apples") == 6
    assert merge_list_bodies([final, final]) == final


def test_merge_is_idempotent_on_its_own_output_and_legacy_input() -> None:
    once = merge_list_bodies([LEGACY])
    assert merge_list_bodies([once]) == once == normalise(LEGACY)
    assert merge_list_bodies([once, LEGACY, once]) == once


def test_set_quantity_is_an_adjustment_by_the_difference() -> None:
    a = set_quantity(LEGACY, "Apples", 4, **kiosk("A"))
    b = adjust(LEGACY, "Apples", 5, **kiosk("B"))
    assert value(a, "Apples") == 4
    assert value(merge_list_bodies([a, b]), "Apples") == 9


def test_set_quantity_adds_an_unknown_name_and_add_item_refuses_a_taken_one() -> None:
    body = set_quantity(LEGACY, "Figs", 7, **kiosk("A"))
    assert value(body, "figs") == 7
    assert names(body) == ["Apples", "Arugula", "Figs"]
    with pytest.raises(UsageError):
        add_item(body, "FIGS", 1, **kiosk("A"))


def test_concurrent_adds_of_one_name_both_survive() -> None:
    a = add_item(LEGACY, "Figs", 3, **kiosk("A"))
    b = add_item(LEGACY, "Figs", 4, **kiosk("B"))
    merged = merge_list_bodies([a, b])
    assert sorted(r["value"] for r in items_view(merged) if r["key"] == "Figs") == [3, 4]


def test_a_deleted_item_stays_deleted_despite_a_concurrent_sale() -> None:
    a = delete_item(LEGACY, "Apples", **kiosk("A"))
    b = adjust(LEGACY, "Apples", -1, **kiosk("B"))
    merged = merge_list_bodies([b, a])
    assert names(merged) == ["Arugula"]
    assert find_item(merge_list_bodies([merged, LEGACY, b]), "Apples") is None


def test_adding_a_deleted_name_again_brings_the_item_back_under_a_new_id() -> None:
    gone = delete_item(LEGACY, "Apples", **kiosk("A"))
    back = add_item(gone, "Apples", 2, **kiosk("A"))
    merged = merge_list_bodies([LEGACY, back, gone])
    row = find_item(merged, "Apples")
    assert row is not None and row["value"] == 2
    assert row["id"] != legacy_item_id("Apples")


def test_a_rename_and_a_picture_change_that_collide_both_survive() -> None:
    a = rename_item(LEGACY, "Apples", "Red Apples", **kiosk("A"))
    b = set_image(LEGACY, "Apples", blob(7), **kiosk("B"))
    merged = merge_list_bodies([a, b])
    row = find_item(merged, "Red Apples")
    assert row is not None and row["image"] == blob(7) and row["value"] == 10


def test_two_colliding_renames_are_decided_by_the_stamp_the_same_way_everywhere() -> None:
    a = rename_item(LEGACY, "Apples", "Pommes", **kiosk("A"))
    b = rename_item(adjust(LEGACY, "Apples", 1, **kiosk("B")), "Apples", "Manzanas", **kiosk("B"))
    # B's rename has the higher Lamport clock (its second edit), so it wins.
    for order in itertools.permutations([a, b, LEGACY]):
        assert names(merge_list_bodies(order)) == ["Arugula", "Manzanas"]
    tie_a = rename_item(LEGACY, "Apples", "Pommes", **kiosk("A"))
    tie_b = rename_item(LEGACY, "Apples", "Manzanas", **kiosk("B"))
    assert names(merge_list_bodies([tie_a, tie_b])) == names(merge_list_bodies([tie_b, tie_a]))
    assert "Manzanas" in names(merge_list_bodies([tie_a, tie_b]))   # device "B" > "A"


def test_renaming_onto_another_items_name_is_refused() -> None:
    with pytest.raises(UsageError):
        rename_item(LEGACY, "Apples", "ARUGULA", **kiosk("A"))
    assert names(rename_item(LEGACY, "Apples", "apples", **kiosk("A")))[0] == "apples"


def test_a_foreign_writer_changing_value_counts_once_however_often_merged() -> None:
    ours = adjust(LEGACY, "Apples", -1, **kiosk("A"))      # Apples 9
    foreign = copy.deepcopy(ours)
    foreign["items"][0]["value"] = 15                       # +6, counters untouched
    other = adjust(ours, "Apples", -2, **kiosk("B"))        # Apples 7
    merged = merge_list_bodies([foreign, other, foreign, normalise(foreign)])
    assert value(merged, "Apples") == 13
    again = copy.deepcopy(merged)
    again["items"][0]["value"] -= 3                         # a second foreign edit
    assert value(merge_list_bodies([again, merged, foreign]), "Apples") == 10


def test_a_foreign_writer_that_strips_merge_state_reads_as_a_legacy_list() -> None:
    stripped = {"type": "list", "items": [{"key": "Apples", "value": 3}, {"key": 5}, "junk"]}
    assert [(r["key"], r["value"]) for r in items_view(stripped)] == [("Apples", 3)]


def test_last_change_records_device_user_and_time() -> None:
    body = adjust(LEGACY, "Apples", 1, device="dev-1", user="priya", now=NOW)
    last = find_item(body, "Apples")["last"]  # type: ignore[index]
    assert (last["device"], last["user"]) == ("dev-1", "priya")
    assert last["at"] == "2027-01-15T08:00:00+00:00"


def test_operations_leave_their_input_untouched() -> None:
    before = copy.deepcopy(LEGACY)
    adjust(LEGACY, "Apples", 1, **kiosk("A"))
    set_image(LEGACY, "Apples", blob(1), **kiosk("A"))
    assert LEGACY == before


@pytest.mark.parametrize("call", [
    lambda: adjust(LEGACY, "Kiwis", 1, **kiosk("A")),
    lambda: delete_item(LEGACY, "Kiwis", **kiosk("A")),
])
def test_an_unknown_item_is_not_found(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match="no item called 'Kiwis'"):
        call()


@pytest.mark.parametrize("call", [
    lambda: set_quantity(LEGACY, "Apples", -1, **kiosk("A")),
    lambda: set_quantity(LEGACY, "Apples", True, **kiosk("A")),
    lambda: adjust(LEGACY, "Apples", "3", **kiosk("A")),
    lambda: add_item(LEGACY, "  ", 1, **kiosk("A")),
    lambda: add_item(LEGACY, "a\nb", 1, **kiosk("A")),
    lambda: adjust(LEGACY, "Apples", 1, device="", user="bob", now=NOW),
])
def test_malformed_arguments_are_usage_errors(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError):
        call()
