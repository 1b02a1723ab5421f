"""The settings file: one TOML file read by the app and every command, written by the app.

`SCHEMA` is the single list of keys (section, name, type, default, doc); loading
checks every key against it, so a bad value fails with file, key and reason
before anything starts. `dumps_settings` is a tiny TOML writer (no dependency).
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.errors import ConfigError, UsageError
from engine.net.files import write_atomic
from engine.net.modes import TLS_MODES, VALIDATION_MODES
from engine.store.create import check_name

if TYPE_CHECKING:
    from engine.node import NodeSettings

LOG_LEVELS = ("debug", "info", "warning", "error")
ENV_VAR = "LISTSYNC_CONFIG"


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: where it lives in the file, its type and what it means."""

    section: str
    name: str
    kind: str  # str | int | float | bool | path | urls
    default: Any
    doc: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None

    @property
    def field(self) -> str:
        return f"{self.section}_{self.name}"

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.name}"


SCHEMA: tuple[Key, ...] = (
    Key("general", "user", "str", None,
        "The listsync user whose database is opened (like --user)."),
    Key("general", "data_dir", "path", None,
        "Where users' databases live (like --data-dir); default ~/.local/share/listsync."),
    Key("listener", "tls", "str", "anonymous", "The listener's TLS identity.", TLS_MODES),
    Key("listener", "identity", "path", None,
        "With tls = \"bundled\": your PKCS#12 or PEM identity instead of the shipped sample."),
    Key("listener", "identity_password_file", "path", None,
        "A file whose first line is the identity's password."),
    Key("listener", "host", "str", None, "The address to listen on; unset: every interface."),
    Key("listener", "port", "int", 0, "The port to listen on; 0: the OS picks one.",
        low=0, high=65535),
    Key("listener", "deltas", "bool", True, "Send changed fields only (delta sync)."),
    Key("listener", "read_only", "bool", False, "Refuse pushes from clients."),
    Key("listener", "advertise", "bool", True, "Advertise the listener on the LAN (mDNS)."),
    Key("listener", "service_name", "str", None,
        "The advertised instance name; unset: user@host."),
    Key("listener", "heartbeat", "float", 15.0,
        "Seconds between websocket pings (listener and replications).", low=0.1, high=3600),
    Key("sync", "validation", "str", "tofu", "How to trust a listener's certificate.",
        VALIDATION_MODES),
    Key("sync", "pinned_cert", "path", None,
        "With validation = \"pinned\": the listener's certificate (DER or PEM)."),
    Key("sync", "ca_file", "path", None, "With validation = \"ca\": trust only these CAs."),
    Key("sync", "browse", "bool", True, "Look for peers on the LAN (mDNS)."),
    Key("sync", "auto_sync", "bool", True,
        "`listsync run`: sync continuously with every peer discovered on the LAN."),
    Key("sync", "password_file", "path", None,
        "A file whose first line is the password for syncing with peers "
        "(else $LISTSYNC_PASSWORD)."),
    Key("peers", "urls", "urls", (),
        "Peers `listsync run` always syncs with, like \"wss://10.0.0.5:4984/userdb\"."),
    Key("log", "level", "str", "info", "How much `listsync run` and the app log.", LOG_LEVELS),
    Key("log", "file", "path", None,
        "Where the app writes its log; unset: <data dir>/listsync.log."),
    Key("app", "kiosk", "bool", False,
        "Start the app locked to the inventory (like --kiosk)."),
)
SECTIONS = tuple(dict.fromkeys(k.section for k in SCHEMA))
_BY_SECTION = {s: {k.name: k for k in SCHEMA if k.section == s} for s in SECTIONS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Every key of the settings file; `path` is the file they came from (None: defaults)."""

    path: Path | None = None
    general_user: str | None = None
    general_data_dir: Path | None = None
    listener_tls: str = "anonymous"
    listener_identity: Path | None = None
    listener_identity_password_file: Path | None = None
    listener_host: str | None = None
    listener_port: int = 0
    listener_deltas: bool = True
    listener_read_only: bool = False
    listener_advertise: bool = True
    listener_service_name: str | None = None
    listener_heartbeat: float = 15.0
    sync_validation: str = "tofu"
    sync_pinned_cert: Path | None = None
    sync_ca_file: Path | None = None
    sync_browse: bool = True
    sync_auto_sync: bool = True
    sync_password_file: Path | None = None
    peers_urls: tuple[str, ...] = ()
    log_level: str = "info"
    log_file: Path | None = None
    app_kiosk: bool = False

    def get(self, dotted: str) -> Any:
        """A value by its file name, like "listener.port"."""
        return getattr(self, _key(dotted).field)

    def with_values(self, values: dict[str, Any]) -> Settings:
        """A copy with `{"section.key": value}` changed, each value checked like the file's
        (relative paths are taken from the settings file's folder, as when it is read)."""
        where = str(self.path or "settings")
        base = None if self.path is None else self.path.parent
        checked = {_key(d).field: _check(_key(d), v, where, base) for d, v in values.items()}
        return replace(self, **checked)

    def node_settings(self, *, identity_password: str | None = None) -> NodeSettings:
        """The Node's share of these settings."""
        # Imported here: the node's events module loads the peers and listener-status code,
        # which every command and the app's first paint would otherwise pay for.
        from engine.node import NodeSettings

        return NodeSettings(
            tls=self.listener_tls, identity_path=self.listener_identity,
            identity_password=identity_password, host=self.listener_host,
            port=self.listener_port, deltas=self.listener_deltas,
            read_only=self.listener_read_only, advertise=self.listener_advertise,
            service_name=self.listener_service_name, browse=self.sync_browse,
            validation=self.sync_validation, pinned_cert=self.sync_pinned_cert,
            ca_file=self.sync_ca_file, heartbeat=self.listener_heartbeat)


assert {f.name for f in fields(Settings)} == {"path", *(k.field for k in SCHEMA)}


def _key(dotted: str) -> Key:
    section, _, name = dotted.partition(".")
    key = _BY_SECTION.get(section, {}).get(name)
    if key is None:
        raise UsageError(f"There is no setting called {dotted!r}.")
    return key


def default_settings_path() -> Path:
    """`$XDG_CONFIG_HOME/listsync/settings.toml`, else `~/.config/listsync/settings.toml`."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".config"
    return base / "listsync" / "settings.toml"


def settings_path(explicit: str | Path | None = None) -> tuple[Path, bool]:
    """(the file to use, whether it was asked for): --config, then $LISTSYNC_CONFIG, then
    the default path. An asked-for file must exist; the default one may be absent."""
    if explicit:
        return Path(explicit).expanduser(), True
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), True
    return default_settings_path(), False


def load_settings(explicit: str | Path | None = None) -> Settings:
    """Read and check the settings file; ConfigError("<file>: <key>: <reason>.") if bad."""
    path, required = settings_path(explicit)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        if not required:
            return Settings()
        raise ConfigError(f"{path}: cannot read the settings file: {err.strerror}.") from err
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the settings file: {err.strerror}.") from err
    return parse_settings(raw, path)


def parse_settings(raw: bytes, path: Path) -> Settings:
    """Settings from the bytes of a TOML file at `path` (relative paths are from its folder)."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: the settings file is not UTF-8 text.") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}.") from err
    values: dict[str, Any] = {}
    for section, table in data.items():
        known = _BY_SECTION.get(section)
        if known is None and not isinstance(table, dict):
            raise ConfigError(f"{path}: {section}: keys belong inside a section, "
                              f"like [listener] (sections: {', '.join(SECTIONS)}).")
        if known is None:
            raise ConfigError(f"{path}: {section}: unknown section "
                              f"(known: {', '.join(SECTIONS)}).")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section}: must be a [{section}] table.")
        for name, value in table.items():
            key = known.get(name)
            if key is None:
                raise ConfigError(f"{path}: {section}.{name}: unknown key "
                                  f"(known: {', '.join(known)}).")
            values[key.field] = _check(key, value, str(path), path.parent)
    return Settings(path=path, **values)


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "a whole number", float: "a number", str: "a string",
            list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def _check(key: Key, value: Any, where: str, base: Path | None) -> Any:
    """`value` converted to the key's type; ConfigError naming file, key and reason."""
    def bad(reason: str) -> ConfigError:
        return ConfigError(f"{where}: {key.dotted}: {reason}.")

    checker = _CHECKERS[key.kind]
    result = checker(key, value, bad, base)
    if key.choices and result not in key.choices:
        raise bad(f"must be one of {', '.join(key.choices)}, not {value!r}")
    if key.dotted == "general.user" and result is not None:
        try:
            check_name(result, "user name")
        except UsageError as err:
            raise bad(str(err).rstrip(".")) from err
    return result


Bad = Callable[[str], ConfigError]


def _str(key: Key, value: Any, bad: Bad, _base: Path | None) -> str | None:
    if value is None and key.default is None:
        return None
    if not isinstance(value, str):
        raise bad(f"expected a string, not {_type_name(value)}")
    if value == "" and key.default is None:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise bad("must not contain control characters")
    return value


def _path(key: Key, value: Any, bad: Bad, base: Path | None) -> Path | None:
    text = _str(key, value, bad, base)
    if text is None:
        return None
    path = Path(text).expanduser()
    return path if path.is_absolute() or base is None else base / path


def _bool(key: Key, value: Any, bad: Bad, _base: Path | None) -> bool:
    if not isinstance(value, bool):
        raise bad(f"expected true or false, not {_type_name(value)}")
    return value


def _range(key: Key, number: float, bad: Bad) -> None:
    if (key.low is not None and number < key.low) or (key.high is not None and number > key.high):
        raise bad(f"must be from {key.low:g} to {key.high:g}, not {number:g}")


def _int(key: Key, value: Any, bad: Bad, _base: Path | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"expected a whole number, not {_type_name(value)}")
    _range(key, value, bad)
    return value


def _float(key: Key, value: Any, bad: Bad, _base: Path | None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad(f"expected a number of seconds, not {_type_name(value)}")
    if not math.isfinite(value):
        raise bad("must be a finite number")
    _range(key, value, bad)
    return float(value)


def _urls(key: Key, value: Any, bad: Bad, _base: Path | None) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise bad(f"expected a list of URLs, not {_type_name(value)}")
    for url in value:
        if not isinstance(url, str):
            raise bad(f"expected a list of URLs, found {_type_name(url)}")
        try:
            from engine.peer import split_url  # httpx: loaded only to check URLs

            split_url(url)
        except UsageError as err:
            raise bad(str(err).rstrip(".")) from err
    return tuple(value)


_CHECKERS: dict[str, Callable[[Key, Any, Bad, Path | None], Any]] = {
    "str": _str, "path": _path, "bool": _bool, "int": _int, "float": _float, "urls": _urls}


# -- writing ---------------------------------------------------------------------

def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            if ch in '"\\':
                out.append("\\" + ch)
            elif ord(ch) < 32 or ord(ch) == 127:
                out.append(f"\\u{ord(ch):04x}")
            else:
                out.append(ch)
        return "".join(out) + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def dumps_settings(settings: Settings | None = None) -> str:
    """The settings as a commented TOML file; keys left at their default are commented out."""
    settings = settings or Settings()
    lines = ["# listsync settings. Every key is optional; a commented-out key shows its",
             "# default. Command-line flags override these. Every key is described in",
             "# tui/docs/settings.md (in the installed package; `listsync settings path`",
             "# prints where this file is)."]
    for section in SECTIONS:
        lines += ["", f"[{section}]"]
        for key in _BY_SECTION[section].values():
            value = getattr(settings, key.field)
            doc = key.doc + (f" One of: {', '.join(key.choices)}." if key.choices else "")
            lines.append(f"# {doc}")
            if value is None or value == key.default:
                shown = '""' if key.default is None else _toml_value(key.default)
                lines.append(f"# {key.name} = {shown}")
            else:
                lines.append(f"{key.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def save_settings(settings: Settings, path: Path | None = None) -> Path:
    """Write `settings` atomically to `path` (default: where they came from, else the
    default path); returns the path written."""
    target = path or settings.path or default_settings_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, dumps_settings(settings).encode("utf-8"), mode=0o644)
    except OSError as err:
        raise ConfigError(f"{target}: cannot write the settings file: {err.strerror}.") from err
    return target
