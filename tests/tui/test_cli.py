"""The command line's table of subcommands: the same help as the modules, imported on demand."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

from tests.helpers import REPO_ROOT, cli_env, run_cli
from tui.cli import COMMANDS


def test_the_table_s_help_is_each_module_s_own() -> None:
    for module in sorted({m for m, _help in COMMANDS.values()}):
        scratch = argparse.ArgumentParser(prog="listsync").add_subparsers()
        importlib.import_module(module).register(scratch)
        registered = {a.dest: a.help for a in scratch._choices_actions}
        listed = {name: text for name, (m, text) in COMMANDS.items() if m == module}
        assert registered == listed, module


def test_top_level_help_lists_every_command_with_its_help() -> None:
    result = run_cli("--help", COLUMNS="200")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    for name, (_module, text) in COMMANDS.items():
        assert any(line.split() == [name, *text.split()] for line in lines), name


def test_a_command_s_own_help_is_complete() -> None:
    result = run_cli("users", "add", "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: listsync users add [-h] [--password-file FILE] NAME")
    result = run_cli("items", "--bogus")
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def loaded_commands(*argv: str) -> list[str]:
    code = ("import sys; from tui.cli import build_parser; "
            f"build_parser().parse_args({list(argv)!r}); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('tui.commands.'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=cli_env(), cwd=REPO_ROOT, check=True).stdout
    return out.split()


def test_only_the_chosen_command_s_module_is_imported() -> None:
    assert loaded_commands() == ["tui.commands._settings"]  # the app: no command module
    assert loaded_commands("set", "Figs", "3") == ["tui.commands._settings",
                                                   "tui.commands.items"]
