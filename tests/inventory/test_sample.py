"""Specs for the shipped sample data and its loading into a new user's database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from engine import data_dir
from engine.inventory import LIST_DOC_ID, items_view
from engine.listdoc import open_list_db, read_list
from engine.sample import load_sample, picture_slug
from engine.store import Database
from tests.helpers import REPO_ROOT, cli_env


def test_every_sample_item_has_a_small_picture_and_nothing_else_is_shipped() -> None:
    sample = json.loads((data_dir() / "samplelist.json").read_text())
    wanted = {f"{picture_slug(i['key'])}.png" for i in sample["items"]}
    pictures = {p.name: p.stat().st_size for p in (data_dir() / "images").glob("*.png")}
    assert len(wanted) == 42 and set(pictures) == wanted
    assert all(100 < size < 2048 for size in pictures.values())


def test_users_allowlist_has_one_json_object_a_line() -> None:
    lines = (data_dir() / "userallowlist.json").read_text().splitlines()
    users = [json.loads(line) for line in lines]
    assert [u["name"] for u in users[:4]] == ["bob", "priya", "jane", "john"]
    assert all(u["password"] == "password" for u in users)
    assert all(set(u) == {"name", "password"} for u in users)


def test_a_new_database_gets_the_42_items_each_with_its_picture_as_a_blob(tmp_path: Path) -> None:
    with Database.open(tmp_path / "db", init=load_sample) as db:
        rows = items_view(read_list(db))
        assert len(rows) == 42
        assert [(r["key"], r["value"]) for r in rows[:3]] == [
            ("Apples", 10), ("Arugula", 100), ("Asparagus", 50)]
        for row in rows:
            ref = row["image"]
            assert ref["@type"] == "blob" and ref["content_type"] == "image/png"
            picture = data_dir() / "images" / f"{picture_slug(row['key'])}.png"
            assert db.blobs.read(ref["digest"]) == picture.read_bytes()


def test_two_devices_loading_the_sample_write_the_same_first_revision(tmp_path: Path) -> None:
    with Database.open(tmp_path / "a", init=load_sample) as a, \
            Database.open(tmp_path / "b", init=load_sample) as b:
        doc_a, doc_b = a.get(LIST_DOC_ID), b.get(LIST_DOC_ID)
        assert doc_a is not None and doc_b is not None
        assert a.uuid != b.uuid
        assert doc_a.rev == doc_b.rev and doc_a.rev.startswith("1-")


RACER = """
import sys, time
from pathlib import Path
from engine.listdoc import open_list_db
go = Path(sys.argv[2])
print("ready", flush=True)
deadline = time.monotonic() + 30
while not go.exists() and time.monotonic() < deadline:
    pass
with open_list_db(Path(sys.argv[1]), "bob") as db:
    print(db.uuid)
"""


def test_racing_processes_create_the_database_and_load_the_sample_exactly_once(
        tmp_path: Path) -> None:
    go = tmp_path / "go"
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), str(go)],
                               env=cli_env(), cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
              for _ in range(4)]
    for racer in racers:   # all imported and spinning: release them together
        assert racer.stdout is not None and racer.stdout.readline() == "ready\n"
    go.touch()
    uuids = {racer.communicate(timeout=60)[0].strip() for racer in racers}
    assert all(racer.returncode == 0 for racer in racers)
    assert len(uuids) == 1
    with open_list_db(tmp_path, "bob") as db:
        assert db.update_seq == 1                    # one save: the sample list
        assert len(db.leaves(LIST_DOC_ID)) == 1
        assert len(items_view(read_list(db))) == 42
    with open_list_db(tmp_path, "bob") as again:     # reopening never reloads
        assert again.update_seq == 1
