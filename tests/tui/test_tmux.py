"""The real `listsync` app in a real terminal (tmux, 80x24, TERM=linux), as a person uses it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, cli_command, cli_env, run_cli

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10)
    return done.stdout


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the terminal never showed what was expected")
        time.sleep(0.1)  # polling another process's screen, with a deadline


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    session = f"listsync-test-{tmp_path.name}"
    data = tmp_path / "data"
    env = cli_env(TERM="linux", LISTSYNC_PASSWORD="password")
    command = " ".join([*cli_command("--data-dir", str(data), "--user", "bob"), "; sleep 30"])
    subprocess.run(["tmux", "new-session", "-d", "-x", "80", "-y", "24", "-s", session,
                    *[arg for key, value in env.items() if key in {"TERM", "PYTHONPATH",
                      "LISTSYNC_PASSWORD"} for arg in ("-e", f"{key}={value}")],
                    "-c", str(REPO_ROOT), command], check=True, timeout=10)
    yield session, data
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def test_the_app_opens_on_the_inventory_and_saves_a_change(terminal: tuple[str, Path]) -> None:
    session, data = terminal

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session)

    wait_for(lambda: "What's in Season?" in screen() and "Apples" in screen())
    lines = screen().splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "F1 Help" in lines[-1]
    tmux("send-keys", "-t", session, "+")
    wait_for(lambda: "11" in next(line for line in screen().splitlines() if " Apples " in line))
    tmux("send-keys", "-t", session, "C-q")
    wait_for(lambda: "What's in Season?" not in screen(), seconds=15)
    items = run_cli("--data-dir", str(data), "--user", "bob", "items", "--json")
    assert {"key": "Apples", "value": 11} in [
        {"key": row["key"], "value": row["value"]} for row in json.loads(items.stdout)]
    assert "logged in as bob" in (data / "listsync.log").read_text()
