"""Small JSON files the app keeps in the data dir: the last user, and sync settings.

Settings mirror the Node facade's NodeSettings fields so they can be passed
straight through; a bad file becomes a ConfigError, never a crash.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from engine import ConfigError

LAST_USER_FILE = "last_user.json"
SETTINGS_FILE = "settings.json"

TLS_MODES = ("anonymous", "disabled", "bundled", "generated")
VALIDATION_MODES = ("skip", "ca", "pinned", "tofu")


def load_last_user(data_dir: Path) -> str | None:
    try:
        value = json.loads((data_dir / LAST_USER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # nothing remembered is not an error
    user = value.get("user") if isinstance(value, dict) else None
    return user if isinstance(user, str) and user else None


def save_last_user(data_dir: Path, user: str) -> None:
    _write_json(data_dir / LAST_USER_FILE, {"user": user})


@dataclass(frozen=True)
class Settings:
    """This device's sync settings (the NodeSettings fields the app lets people change)."""

    tls: str = "anonymous"
    port: int = 0  # 0: the OS picks a free port
    deltas: bool = True
    read_only: bool = False
    advertise: bool = True
    service_name: str | None = None  # None: derived from user and host
    validation: str = "tofu"
    pinned_cert: str | None = None

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ConfigError(f"Unknown TLS mode {self.tls!r}; use one of {', '.join(TLS_MODES)}.")
        if self.validation not in VALIDATION_MODES:
            raise ConfigError(f"Unknown validation mode {self.validation!r}.")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"Port {self.port} is out of range 0-65535.")
        if self.validation == "pinned" and not self.pinned_cert:
            raise ConfigError("Pinned validation needs the path of the pinned certificate.")

    def node_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for engine's NodeSettings (same names; paths as Path)."""
        kwargs = asdict(self)
        kwargs["pinned_cert"] = Path(self.pinned_cert).expanduser() if self.pinned_cert else None
        return kwargs


def load_settings(data_dir: Path) -> Settings:
    path = data_dir / SETTINGS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as err:
        raise ConfigError(f"Could not read settings from {path}: {err}.") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"Settings file {path} does not hold a JSON object.")
    known = {f.name for f in fields(Settings)}
    try:
        return replace(Settings(), **{k: v for k, v in raw.items() if k in known})
    except TypeError as err:
        raise ConfigError(f"Settings file {path} holds a bad value: {err}.") from err


def save_settings(data_dir: Path, settings: Settings) -> None:
    _write_json(data_dir / SETTINGS_FILE, asdict(settings))


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(value, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
