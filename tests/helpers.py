"""Shared test helpers: run the real `listsync` command in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Child processes read no developer's own settings file: an empty config home.
_CONFIG_HOME = tempfile.mkdtemp(prefix="listsync-test-config-")


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a child process that imports this checkout's code."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.pop("LISTSYNC_PASSWORD", None)
    env.pop("LISTSYNC_CONFIG", None)
    env["XDG_CONFIG_HOME"] = _CONFIG_HOME
    env.update(extra)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "tui", *args]


def run_cli(*args: str, timeout: float = 60, input: str | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
    """Run `listsync ARGS...` to completion and return what it printed."""
    return subprocess.run(
        cli_command(*args), capture_output=True, text=True, timeout=timeout,
        env=cli_env(**env), input=input, cwd=REPO_ROOT,
    )
