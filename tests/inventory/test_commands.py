"""Specs for `listsync items`, `set` and `adjust`, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, cli_command, cli_env, run_cli


@pytest.fixture
def data(tmp_path: Path) -> str:
    return str(tmp_path / "data")


def items(data: str) -> dict[str, int]:
    done = run_cli("--data-dir", data, "--user", "bob", "items", "--json")
    assert done.returncode == 0, done.stderr
    return {row["key"]: row["value"] for row in json.loads(done.stdout)}


def test_items_on_a_fresh_data_dir_lists_the_42_sample_items(data: str) -> None:
    done = run_cli("--data-dir", data, "--user", "bob", "items", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 42
    assert rows[0] == {"key": "Apples", "value": 10}
    assert rows[-1] == {"key": "Zucchini", "value": 12}
    table = run_cli("--data-dir", data, "--user", "bob", "items").stdout.splitlines()
    assert len(table) == 43 and table[0].split() == ["Item", "Qty"]
    assert table[7].split() == ["Brussels", "Sprouts", "4"]


def test_set_adds_or_sets_and_adjust_adds_a_signed_delta(data: str) -> None:
    def bob(*args: str) -> str:
        done = run_cli("--data-dir", data, "--user", "bob", *args)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert bob("set", "Figs", "7") == "Figs: 7\n"
    assert bob("set", "apples", "3") == "Apples: 3\n"
    assert bob("adjust", "Apples", "-1") == "Apples: 2\n"
    assert bob("adjust", "Figs", "+5") == "Figs: 12\n"
    listed = items(data)
    assert (listed["Apples"], listed["Figs"], len(listed)) == (2, 12, 43)


def test_each_user_has_their_own_list(data: str) -> None:
    run_cli("--data-dir", data, "--user", "bob", "set", "Apples", "1")
    assert items(data)["Apples"] == 1
    done = run_cli("--data-dir", data, "--user", "priya", "items", "--json")
    assert json.loads(done.stdout)[0] == {"key": "Apples", "value": 10}


@pytest.mark.parametrize(("args", "code", "says"), [
    (("items",), 2, "--user"),
    (("adjust", "Apples", "1"), 2, "--user"),
    (("--user", "bob", "adjust", "Kiwis", "1"), 1, "no item called 'Kiwis'"),
    (("--user", "bob", "set", "Apples", "lots"), 2, "whole number"),
    (("--user", "bob", "adjust", "Apples", "1.5"), 2, "whole number"),
    (("--user", "bob", "set", "Apples", "-3"), 2, "cannot be negative"),
    (("--user", "bob", "set", "", "3"), 2, "non-empty"),
    (("--user", "../etc", "items"), 2, "user name"),
])
def test_bad_input_is_one_clear_sentence_and_an_exit_code(
        data: str, args: tuple[str, ...], code: int, says: str) -> None:
    done = run_cli("--data-dir", data, *args)
    assert done.returncode == code
    assert says in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


WATCHER = """
import json, sys
import anyio
from pathlib import Path
from engine.inventory import find_item
from engine.listdoc import open_list_db, read_list

async def main() -> None:
    with open_list_db(Path(sys.argv[1]), "bob") as db:
        start, seen = db.update_seq, []
        print(start, flush=True)
        with anyio.fail_after(300):   # generous: 80 process launches on a busy CI box
            async for seq in db.subscribe(start):
                seen.append([seq, find_item(read_list(db), "Apples")["value"]])
                if seq >= start + int(sys.argv[2]):
                    break
    print(json.dumps({"start": start, "seen": seen}), flush=True)

anyio.run(main)
"""
WORKER = 'for i in $(seq "$N"); do "$@" >/dev/null || exit 1; done'


def test_four_processes_adjusting_at_once_lose_nothing_and_a_watcher_sees_every_write(
        data: str) -> None:
    per_worker, workers = 20, 4
    assert items(data)["Apples"] == 10       # create the database first
    watcher = subprocess.Popen([sys.executable, "-c", WATCHER, data, str(per_worker * workers)],
                               env=cli_env(), cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert watcher.stdout is not None
    start = int(watcher.stdout.readline())   # subscribed: start writing
    adjust_apples = cli_command("--data-dir", data, "--user", "bob", "adjust", "Apples", "1")
    running = [subprocess.Popen(["sh", "-c", WORKER, "worker", *adjust_apples], cwd=REPO_ROOT,
                                env=cli_env(N=str(per_worker)))
               for _ in range(workers)]
    assert [w.wait(timeout=300) for w in running] == [0] * workers
    report = json.loads(watcher.communicate(timeout=60)[0])
    assert items(data)["Apples"] == 10 + per_worker * workers
    seqs = [seq for seq, _ in report["seen"]]
    values = [value for _, value in report["seen"]]
    # Every write is one new sequence number: the watcher's feed reached exactly the 80th.
    assert report["start"] == start and seqs[-1] == start + per_worker * workers
    assert seqs == sorted(seqs) and values == sorted(values) and values[-1] == 90


def test_a_reader_that_stops_early_gets_no_traceback(data: str) -> None:
    items(data)
    read_end, write_end = os.pipe()
    os.close(read_end)   # the reader is gone before the first byte is written
    try:
        done = subprocess.run(cli_command("--data-dir", data, "--user", "bob", "items"),
                              stdout=write_end, stderr=subprocess.PIPE, text=True,
                              env=cli_env(), cwd=REPO_ROOT, timeout=60)
    finally:
        os.close(write_end)
    assert done.stderr == ""
