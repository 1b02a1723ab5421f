"""`listsync service unit`: the shipped systemd units, filled in for this installation."""

from __future__ import annotations

import shlex
from pathlib import Path

from tests.helpers import run_cli
from tui.commands.service import listsync_command, unit_text


def test_run_unit_starts_listsync_run_with_the_given_user_and_config(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    result = run_cli("--config", str(config), "service", "unit", "--kind", "run", "--user",
                     "shop", "--system-user", "pi")
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert "User=pi" in lines
    exec_line = next(line for line in lines if line.startswith("ExecStart="))
    words = shlex.split(exec_line.removeprefix("ExecStart="))
    assert words[-5:] == ["--config", str(config), "--user", "shop", "run"]
    assert Path(words[0]).is_absolute()
    assert "ExecReload=/bin/kill -HUP $MAINPID" in lines
    assert "RestartPreventExitStatus=2" in lines and "WantedBy=multi-user.target" in lines
    assert "@" not in exec_line.replace("@.service", "")


def test_kiosk_unit_runs_the_app_locked_on_a_tty_and_restarts_it() -> None:
    text = unit_text("kiosk", account="shop", options=["--user", "shop"])
    lines = text.splitlines()
    assert f"ExecStart={shlex.join(listsync_command())} --user shop --kiosk" in lines
    for expected in ("User=shop", "TTYPath=/dev/%I", "StandardInput=tty", "Restart=always",
                     "Conflicts=getty@%i.service"):
        assert expected in lines


def test_unknown_kind_is_a_usage_error() -> None:
    result = run_cli("service", "unit", "--kind", "desktop")
    assert result.returncode == 2
    assert "argument --kind: invalid choice: 'desktop' (choose from 'kiosk', 'run')" in \
        result.stderr
