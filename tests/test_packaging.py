"""A real wheel carries the code, data/ and certs/, and works installed away from the repo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                    str(REPO_ROOT)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("listsync-*.whl")
    return built


def test_wheel_holds_code_data_certs_and_the_console_command(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("engine/__init__.py", "engine/store/database.py", "tui/cli.py",
                     "engine/protocol/PROTOCOL.md",
                     "engine/_shipped/data/samplelist.json",
                     "engine/_shipped/data/userallowlist.json",
                     "engine/_shipped/data/images/apples.png",
                     "engine/_shipped/certs/listener-identity.p12",
                     "engine/_shipped/certs/listener-pinned-cert.cer",
                     "tui/units/listsync-run.service", "tui/docs/settings.md",
                     "tui/docs/raspberry-pi.md"):
        assert expected in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "listsync = tui.cli:main" in text


def test_installed_wheel_loads_the_sample_list_away_from_the_repo(wheel: Path,
                                                                    tmp_path: Path) -> None:
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    env = dict(os.environ, PYTHONPATH=str(site))
    where = subprocess.run(
        [sys.executable, "-c", "import engine; print(engine.__file__); print(engine.data_dir())"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split("\n")
    assert where[0].startswith(str(site)) and where[1].startswith(str(site))
    result = subprocess.run(
        [sys.executable, "-m", "tui", "--data-dir", str(tmp_path / "data"), "--user", "bob",
         "items", "--json"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    items = json.loads(result.stdout)
    assert len(items) == 42
    assert items[0] == {"key": "Apples", "value": 10}
    assert items[-1] == {"key": "Zucchini", "value": 12}
