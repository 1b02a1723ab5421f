"""Figures for the terminal app (a script, not a test): launch to first paint, memory, key to row.

    /work/venv/bin/python -m tests.bench.tui_bench

Real processes in tmux at 80x24 (TERM=linux), polled with capture-pane: time from
launch to the inventory on screen (cold, then warm = second launch), the app's RSS
once it shows the sample list, and, with a 1,000-item list, time from a `+` key to
the updated row (tmux, and in-process with App.run_test). Also how long
`import engine` alone takes, since first paint waits for it.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.helpers import REPO_ROOT, cli_command, cli_env

SESSION = "listsync-bench"
POLL = 0.005  # seconds between capture-pane polls
TARGET_PAINT, TARGET_RSS_MB = 0.5, 80


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, timeout=10).stdout


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def wait_screen(condition: object, seconds: float = 30) -> float:
    deadline = time.perf_counter() + seconds
    while not condition(screen()):  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise SystemExit("the screen never showed what was expected:\n" + screen())
        time.sleep(POLL)
    return time.perf_counter()


def start_shell() -> None:
    env = cli_env(TERM="linux", LISTSYNC_PASSWORD="password")
    tmux("kill-session", "-t", SESSION)
    subprocess.run(["tmux", "new-session", "-d", "-x", "80", "-y", "24", "-s", SESSION,
                    *[a for k in ("TERM", "PYTHONPATH", "LISTSYNC_PASSWORD", "XDG_CONFIG_HOME")
                      for a in ("-e", f"{k}={env[k]}")], "-c", str(REPO_ROOT), "sh"],
                   check=True, timeout=10)
    time.sleep(0.3)  # let the shell print its prompt


def app_pid() -> int:
    shell = tmux("display-message", "-p", "-t", SESSION, "#{pane_pid}").strip()
    out = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()
    return int(out[0])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def launch(data: Path) -> tuple[float, float]:
    """Launch the app; (seconds to the inventory on screen, RSS in MB once shown)."""
    command = " ".join(cli_command("--data-dir", str(data), "--user", "bob"))
    tmux("send-keys", "-t", SESSION, "clear", "Enter")
    wait_screen(lambda s: "Apples" not in s)
    start = time.perf_counter()
    tmux("send-keys", "-t", SESSION, command, "Enter")
    shown = wait_screen(lambda s: "Apples" in s and "F1 Help" in s)
    time.sleep(1.0)  # let the node start before reading memory
    rss = rss_mb(app_pid())
    tmux("send-keys", "-t", SESSION, "C-q")
    wait_screen(lambda s: "F1 Help" not in s)
    return shown - start, rss


def big_list(data: Path, count: int) -> None:
    from engine import add_item, open_list_db, update_list

    with open_list_db(data, "bob", "userdb") as db:
        def fill(body: dict) -> dict:  # type: ignore[type-arg]
            for i in range(count - len(body["items"])):
                body = add_item(body, f"Item {i:04d}", i % 50, device="bench", user="bob",
                                now=0)
            return body

        update_list(db, fill)


def key_to_row_tmux(data: Path, presses: int = 15) -> list[float]:
    command = " ".join(cli_command("--data-dir", str(data), "--user", "bob"))
    tmux("send-keys", "-t", SESSION, "clear", "Enter", command, "Enter")
    wait_screen(lambda s: "Apples" in s and "F1 Help" in s, seconds=60)
    times = []

    def apples(s: str) -> str:
        return next((line for line in s.splitlines() if " Apples " in line), "")

    for _ in range(presses):
        before = apples(screen())
        start = time.perf_counter()
        tmux("send-keys", "-t", SESSION, "+")
        times.append(wait_screen(lambda s, b=before: apples(s) != b) - start)
    tmux("send-keys", "-t", SESSION, "C-q")
    wait_screen(lambda s: "F1 Help" not in s)
    return times


async def key_to_row_pilot(data: Path, presses: int = 15) -> tuple[list[float], list[float]]:
    """(key to updated row, key to the change saved in the database), in seconds."""
    from textual import events

    from engine import find_item, list_resolver, open_list_db, read_list
    from tui.app import ListsyncApp
    from tui.screens.inventory import InventoryScreen

    db = open_list_db(data, "bob", "userdb")
    db.resolver = list_resolver
    app = ListsyncApp(data_dir=data, opener=lambda *_: db, user="bob", password="x",
                      start_node=False)
    times, saved = [], []
    async with app.run_test(size=(80, 24)) as pilot:
        while not isinstance(app.screen, InventoryScreen):
            await pilot.pause(0.01)
        await pilot.pause(0.5)
        table = app.screen.query_one("#items")
        while table.row_count < 1000:  # the list is read off the UI thread
            await pilot.pause(0.01)
        for _ in range(presses):
            before = str(table.get_row_at(table.cursor_row)[1])
            start = time.perf_counter()
            # As the terminal driver delivers a key (pilot.press would also wait for idle).
            app.post_message(events.Key("plus", "+"))
            while str(table.get_row_at(table.cursor_row)[1]) == before:
                await pilot.pause(0.001)
            times.append(time.perf_counter() - start)
            while str(find_item(read_list(db), "Apples")["value"]) == before:  # type: ignore[index]
                await pilot.pause(0.001)
            saved.append(time.perf_counter() - start)
    db.close()
    return times, saved


def import_seconds(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 env=cli_env(), cwd=REPO_ROOT, check=True).stdout)
            for _ in range(3)]
    return min(runs)


def ms(values: list[float]) -> str:
    return (f"median {statistics.median(values) * 1000:.0f} ms, "
            f"max {max(values) * 1000:.0f} ms (n={len(values)})")


def main() -> None:
    if shutil.which("tmux") is None:
        raise SystemExit("needs tmux")
    root = Path(tempfile.mkdtemp(prefix="listsync-bench-"))
    try:
        start_shell()
        print(f"import engine: {import_seconds('engine') * 1000:.0f} ms; "
              f"import textual.app: {import_seconds('textual.app') * 1000:.0f} ms")
        cold, cold_rss = launch(root / "sample")
        warm, warm_rss = launch(root / "sample")
        print(f"launch to inventory on screen: cold {cold:.2f} s, warm {warm:.2f} s "
              f"(target <= {TARGET_PAINT} s)")
        print(f"RSS with the sample list: {warm_rss:.0f} MB (first launch {cold_rss:.0f} MB; "
              f"target <= {TARGET_RSS_MB} MB)")
        big_list(root / "big", 1000)
        print("key + to updated row, 1,000 items, real app in tmux: "
              + ms(key_to_row_tmux(root / "big")))
        shown, saved = asyncio.run(key_to_row_pilot(root / "big"))
        print("key + to updated row, 1,000 items, App.run_test: " + ms(shown))
        print("key + to the change saved in the database (fsynced), 1,000 items: " + ms(saved))
    finally:
        tmux("kill-session", "-t", SESSION)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
