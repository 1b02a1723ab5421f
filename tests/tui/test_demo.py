"""`listsync demo` in a real terminal: live sync with a second peer, and no process left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT, cli_command, cli_env
from tests.tui.test_tmux import tmux, wait_for

pytestmark = [pytest.mark.tmux,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]


def processes_mentioning(text: str) -> dict[int, str]:
    """Live processes whose command line contains `text` (pid -> command line)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().split(") ", 1)[1][:1]
        except (OSError, IndexError):
            continue  # gone while we looked
        if text in cmdline and state != "Z":
            found[int(entry.name)] = cmdline
    return found


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[str]:
    session = f"listsync-demo-{tmp_path.name}"
    env = cli_env(TERM="linux", TMPDIR=str(tmp_path))  # the demo's data dirs land in tmp_path
    command = " ".join([*cli_command("demo", "--interval", "0.3"), "; sleep 30"])
    subprocess.run(["tmux", "new-session", "-d", "-x", "80", "-y", "24", "-s", session,
                    *[arg for key in ("TERM", "PYTHONPATH", "TMPDIR", "XDG_CONFIG_HOME")
                      for arg in ("-e", f"{key}={env[key]}")],
                    "-c", str(REPO_ROOT), command], check=True, timeout=10)
    yield session
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=10)


def test_demo_shows_live_sync_and_quitting_leaves_no_process(demo: str, tmp_path: Path) -> None:
    def screen() -> str:
        return tmux("capture-pane", "-p", "-t", demo)

    wait_for(lambda: "Apples" in screen() and "F1 Help" in screen())
    demo_dirs = f"{tmp_path}/listsync-demo-"
    commands = " | ".join(processes_mentioning(demo_dirs).values())
    assert "serve --host 127.0.0.1" in commands and "tui.commands.demo" in commands
    first = screen()
    wait_for(lambda: screen() != first)  # the other peer's sales and restocks arrive
    tmux("send-keys", "-t", demo, "F3")
    wait_for(lambda: "127.0.0.1:" in screen() and " idle" in screen())
    tmux("send-keys", "-t", demo, "C-q")
    wait_for(lambda: "Apples" not in screen() and "127.0.0.1:" not in screen(), seconds=20)
    wait_for(lambda: not processes_mentioning(demo_dirs), seconds=20)
    wait_for(lambda: not list(tmp_path.glob("listsync-demo-*")))  # its data dirs removed


def test_killing_the_demo_takes_its_peer_processes_with_it(demo: str, tmp_path: Path) -> None:
    demo_dirs = f"{tmp_path}/listsync-demo-"
    wait_for(lambda: len(processes_mentioning(demo_dirs)) == 2)
    shell = int(tmux("display-message", "-p", "-t", demo, "#{pane_pid}").strip())
    [app] = [pid for pid, cmd in processes_mentioning(" demo --interval").items()
             if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[1] == str(shell)]
    os.kill(app, signal.SIGKILL)  # no clean-up code runs in the app
    wait_for(lambda: not processes_mentioning(demo_dirs), seconds=20)
