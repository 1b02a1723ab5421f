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
    command = " ".join([*cli_command("--data-dir", str(data), "--user", "bob", "--log-file",
                                     str(tmp_path / "app.log")), "; sleep 30"])
    subprocess.run(["tmux", "new-session", "-d", "-x", "80", "-y", "24", "-s", session,
                    *[arg for key, value in env.items() if key in {"TERM", "PYTHONPATH",
                      "LISTSYNC_PASSWORD", "XDG_CONFIG_HOME"} for arg in ("-e", f"{key}={value}")],
                    "-c", str(REPO_ROOT), command], check=True, timeout=10)
    yield session, data
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def test_the_app_opens_on_the_inventory_and_saves_a_change(terminal: tuple[str, Path]) -> None:
    session, data = terminal

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session)

    # The footer's keys may come a frame after the list.
    wait_for(lambda: "Apples" in screen() and "F1 Help" in screen())
    lines = screen().splitlines()
    assert "What's in Season?" in lines[0]
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "F1 Help" in lines[-1]
    tmux("send-keys", "-t", session, "+")
    wait_for(lambda: "11" in next(line for line in screen().splitlines() if " Apples " in line))
    tmux("send-keys", "-t", session, "C-q")
    wait_for(lambda: "What's in Season?" not in screen(), seconds=15)
    items = run_cli("--data-dir", str(data), "--user", "bob", "items", "--json")
    assert {"key": "Apples", "value": 11} in [
        {"key": row["key"], "value": row["value"]} for row in json.loads(items.stdout)]
    assert "logged in as bob" in (data.parent / "app.log").read_text()  # --log-file


@pytest.fixture
def headless_peer(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """`listsync serve` on 127.0.0.1 with bob's own data dir: the other device."""
    data = tmp_path / "peer"
    serve = subprocess.Popen(
        cli_command("--data-dir", str(data), "--user", "bob", "serve", "--host", "127.0.0.1",
                    "--no-advertise"),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env(),
        cwd=REPO_ROOT)
    try:
        assert serve.stdout is not None
        line = serve.stdout.readline()  # printed once it accepts connections
        assert line.startswith("listening wss://127.0.0.1:"), line
        yield int(line.split()[1].rsplit(":", 1)[1].split("/")[0]), data
    finally:
        serve.terminate()
        serve.wait(timeout=20)
        if serve.stdout is not None:
            serve.stdout.close()


def peer_items(data: Path) -> dict[str, int]:
    out = run_cli("--data-dir", str(data), "--user", "bob", "items", "--json")
    return {row["key"]: row["value"] for row in json.loads(out.stdout)}


def test_changes_flow_both_ways_with_a_headless_peer(
        terminal: tuple[str, Path], headless_peer: tuple[int, Path]) -> None:
    session, _data = terminal
    port, peer_data = headless_peer

    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", session)

    def apples_on_screen() -> str:
        return next((line for line in screen().splitlines() if " Apples " in line), "")

    wait_for(lambda: "Apples" in screen())
    tmux("send-keys", "-t", session, "F3")
    wait_for(lambda: "No peers yet" in screen() or "Peer " in screen())
    tmux("send-keys", "-t", session, "a")
    wait_for(lambda: "Peer address" in screen())
    tmux("send-keys", "-t", session, f"127.0.0.1:{port}", "Enter")
    wait_for(lambda: f"127.0.0.1:{port}" in screen() and "stopped" in screen())
    tmux("send-keys", "-t", session, "Enter")
    wait_for(lambda: f"127.0.0.1:{port}" in screen() and " idle" in screen())
    tmux("send-keys", "-t", session, "Escape")
    wait_for(lambda: "10" in apples_on_screen())
    tmux("send-keys", "-t", session, "+")
    wait_for(lambda: peer_items(peer_data)["Apples"] == 11)
    run_cli("--data-dir", str(peer_data), "--user", "bob", "adjust", "Apples", "-4")
    wait_for(lambda: " 7 " in apples_on_screen() or apples_on_screen().rstrip().endswith("7"))


def test_a_kiosk_from_the_settings_file_stays_on_the_inventory(tmp_path: Path) -> None:
    session = f"listsync-kiosk-{tmp_path.name}"
    config = tmp_path / "settings.toml"
    config.write_text(f'[general]\nuser = "bob"\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[app]\nkiosk = true\n[log]\nfile = "{tmp_path / "kiosk.log"}"\n')
    env = cli_env(TERM="linux", LISTSYNC_PASSWORD="password", LISTSYNC_CONFIG=str(config))
    command = " ".join([*cli_command(), "; echo app-ended; sleep 30"])
    subprocess.run(["tmux", "new-session", "-d", "-x", "80", "-y", "24", "-s", session,
                    *[arg for key in ("TERM", "PYTHONPATH", "LISTSYNC_PASSWORD", "LISTSYNC_CONFIG",
                                      "XDG_CONFIG_HOME") for arg in ("-e", f"{key}={env[key]}")],
                    "-c", str(REPO_ROOT), command], check=True, timeout=10)
    try:
        def screen() -> str:
            return tmux("capture-pane", "-p", "-t", session)

        wait_for(lambda: "Apples" in screen() and "F1 Help" in screen())
        assert "F6" not in screen()  # no screens to switch to
        tmux("send-keys", "-t", session, "F3")
        tmux("send-keys", "-t", session, "C-q")
        wait_for(lambda: "Ctrl+X" in screen())
        assert "Apples" in screen() and "Peers" not in screen()
        tmux("send-keys", "-t", session, "C-x")
        wait_for(lambda: "app-ended" in screen(), seconds=15)
        assert "logged in as bob" in (tmp_path / "kiosk.log").read_text()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)
