"""`listsync run` on one host finds a listener on another over real mDNS and keeps it in sync."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from tests.mdns.netns import Lan

pytestmark = pytest.mark.netns


def apples(net_ns: object, data_dir: str) -> int:
    done = net_ns.cli("--data-dir", data_dir, "--user", "bob", "items", "--json")  # type: ignore[attr-defined]
    assert done.returncode == 0, done.stderr
    return int(next(i["value"] for i in json.loads(done.stdout) if i["key"] == "Apples"))


def test_run_discovers_a_listener_and_keeps_syncing_with_it(net: Lan, tmp_path: Path) -> None:
    a_dir, b_dir = str(tmp_path / "a"), str(tmp_path / "b")
    serve = net.a.spawn(sys.executable, "-m", "tui", "--data-dir", a_dir, "--user", "bob",
                        "serve", "--tls", "generated", "--name", "stockroom")
    serve.wait_for(lambda line: line.startswith("listening "), 30)
    # run logs to stderr; the namespace helper reads stdout, so merge them with a shell.
    run = net.b.spawn("sh", "-c", f"LISTSYNC_PASSWORD=password exec {sys.executable} -m tui "
                      f"--data-dir {b_dir} --user bob run --no-advertise 2>&1")
    run.wait_for(lambda line: "peer discovered: stockroom" in line, 10)
    run.wait_for(lambda line: "sync with stockroom: idle" in line, 30)

    done = net.a.cli("--data-dir", a_dir, "--user", "bob", "adjust", "Apples", "-4")
    assert done.returncode == 0, done.stderr
    # The serve process notices the other process's write and pushes it; poll B's list.
    deadline = time.monotonic() + 30
    while apples(net.b, b_dir) != 6:
        assert time.monotonic() < deadline, "the sale made on A never reached B"
    assert run.stop() == 0
    assert serve.stop() == 0
