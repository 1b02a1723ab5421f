"""The app logs to a file, never to its screen."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import ConfigError, Settings
from tui.logfile import app_log_path, configure_app_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def args(tmp_path: Path, log_file: str | None = None) -> argparse.Namespace:
    return argparse.Namespace(data_dir=str(tmp_path / "data"), log_file=log_file, debug=False,
                              settings=Settings().with_values({"log.level": "warning"}))


def test_default_log_file_is_in_the_data_dir_and_gets_every_record(
        tmp_path: Path, restore_logging: None) -> None:
    path = configure_app_logging(args(tmp_path))
    assert path == tmp_path / "data" / "listsync.log"
    logging.getLogger("engine.sync").warning("peer went away")
    logging.getLogger("engine.sync").info("too chatty for [log] level = warning")
    root = logging.getLogger()
    assert [type(h).__name__ for h in root.handlers] == ["RotatingFileHandler"]
    root.handlers[0].flush()
    text = path.read_text()
    assert "WARNING engine.sync: peer went away" in text and "too chatty" not in text


def test_log_file_flag_wins_and_an_unwritable_one_is_a_config_error(
        tmp_path: Path, restore_logging: None) -> None:
    assert app_log_path(args(tmp_path, str(tmp_path / "x.log"))) == tmp_path / "x.log"
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"Could not open the log file .*/file/x\.log: "):
        configure_app_logging(args(tmp_path, str(tmp_path / "file" / "x.log")))
