"""The app's own small file in the data dir: the last user to log in.

Sync settings live in the shared settings file (engine.load_settings / save_settings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

LAST_USER_FILE = "last_user.json"



def load_last_user(data_dir: Path) -> str | None:
    try:
        value = json.loads((data_dir / LAST_USER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # nothing remembered is not an error
    user = value.get("user") if isinstance(value, dict) else None
    return user if isinstance(user, str) and user else None


def save_last_user(data_dir: Path, user: str) -> None:
    _write_json(data_dir / LAST_USER_FILE, {"user": user})


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
