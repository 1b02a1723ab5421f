"""The settings file: every key checked with file, key and reason; flags override it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from engine import (
    SETTINGS_SCHEMA,
    ConfigError,
    Settings,
    dumps_settings,
    load_settings,
    parse_settings,
    save_settings,
)
from tests.helpers import REPO_ROOT, run_cli
from tests.ops.procs import CliProcess

FILE = Path("/etc/listsync/settings.toml")


@pytest.mark.parametrize(("text", "reason"), [
    ('[listener]\nport = "4984"', "listener.port: expected a whole number, not a string."),
    ("[listener]\nport = 70000", "listener.port: must be from 0 to 65535, not 70000."),
    ("[listener]\nport = true", "listener.port: expected a whole number, not a boolean."),
    ('[listener]\ntls = "tofu"', "listener.tls: must be one of disabled, anonymous, bundled, "
                                 "generated, not 'tofu'."),
    ("[listener]\nheartbeat = 0", "listener.heartbeat: must be from 0.1 to 3600, not 0."),
    ("[listener]\nprot = 1", "listener.prot: unknown key (known: tls, identity, "
                             "identity_password_file, host, port, deltas, read_only, advertise, "
                             "service_name, heartbeat)."),
    ("[listner]\nport = 1", "listner: unknown section (known: general, listener, sync, peers, "
                            "log, app)."),
    ("port = 1", "port: keys belong inside a section, like [listener] (sections: general, "
                 "listener, sync, peers, log, app)."),
    ("[sync]\nbrowse = 1", "sync.browse: expected true or false, not a whole number."),
    ('[sync]\nvalidation = "none"', "sync.validation: must be one of skip, ca, pinned, tofu, "
                                    "not 'none'."),
    ('[peers]\nurls = "ws://a:1/userdb"', "peers.urls: expected a list of URLs, not a string."),
    ('[peers]\nurls = ["http://a:1/userdb"]', "peers.urls: 'http://a:1/userdb' is not a ws:// "
                                              "or wss:// URL (like ws://host:port/userdb)."),
    ('[log]\nlevel = "loud"', "log.level: must be one of debug, info, warning, error, "
                              "not 'loud'."),
    ('[general]\nuser = "../etc"', "general.user: The user name '../etc' must be 1-64 letters, "
                                   "digits, '.', '_' or '-', starting with a letter or digit."),
    ("[listener\nport = 1", "not valid TOML: Expected ']' at the end of a table declaration "
                            "(at line 1, column 10)."),
])
def test_a_bad_value_names_file_key_and_reason(text: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings(text.encode(), FILE)
    assert str(caught.value) == f"{FILE}: {reason}"
    assert caught.value.exit_code == 2


def test_written_settings_read_back_the_same_and_defaults_stay_commented(tmp_path: Path) -> None:
    path = tmp_path / "settings.toml"
    changed = Settings(path=path).with_values({
        "general.user": "shop", "listener.port": 4984, "listener.tls": "generated",
        "listener.service_name": 'Till "one" \\ back', "listener.heartbeat": 5,
        "sync.validation": "pinned", "sync.pinned_cert": "certs/till.der",
        "peers.urls": ["wss://till.local:4984/userdb"], "log.file": "/var/log/listsync.log",
        "app.kiosk": True})
    save_settings(changed, path)
    again = load_settings(path)
    assert again == changed
    assert again.sync_pinned_cert == tmp_path / "certs" / "till.der"  # beside the file
    text = path.read_text()
    assert "\n# deltas = true\n" in text and "\nport = 4984\n" in text
    assert load_settings(path).listener_heartbeat == 5.0
    assert parse_settings(dumps_settings().encode(), path) == Settings(path=path)


def test_relative_paths_in_the_file_are_relative_to_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "settings.toml"
    path.parent.mkdir()
    path.write_text('[sync]\nca_file = "ca.pem"\npassword_file = ""\n')
    s = load_settings(path)
    assert s.sync_ca_file == tmp_path / "conf" / "ca.pem" and s.sync_password_file is None


def test_node_settings_carry_every_listener_and_sync_key() -> None:
    s = Settings().with_values({"listener.host": "10.0.0.2", "listener.port": 4984,
                                "listener.deltas": False, "sync.browse": False,
                                "sync.validation": "skip", "listener.heartbeat": 3.0})
    node = s.node_settings()
    assert (node.host, node.port, node.deltas, node.browse, node.validation, node.heartbeat) == (
        "10.0.0.2", 4984, False, False, "skip", 3.0)


def test_every_key_is_documented() -> None:
    doc = (REPO_ROOT / "tui" / "docs" / "settings.md").read_text(encoding="utf-8")
    sections = re.findall(r"^### \[(\w+)\]$", doc, flags=re.MULTILINE)
    assert sections == list(dict.fromkeys(k.section for k in SETTINGS_SCHEMA))
    for key in SETTINGS_SCHEMA:
        assert f"| `{key.name}` |" in doc.split(f"### [{key.section}]")[1].split("###")[0], key


def test_a_bad_settings_file_stops_every_command_with_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "listsync" / "settings.toml"
    config.parent.mkdir()
    config.write_text("[listener]\nport = 70000\n")
    result = run_cli("--data-dir", str(tmp_path), "--user", "bob", "items",
                     XDG_CONFIG_HOME=str(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (f"listsync: {config}: listener.port: must be from 0 to 65535, "
                             "not 70000.\n")
    assert not (tmp_path / "bob").exists()  # nothing started
    missing = run_cli("--config", str(tmp_path / "none.toml"), "items",
                      XDG_CONFIG_HOME=str(tmp_path))
    assert (missing.returncode, missing.stderr) == (
        2, f"listsync: {tmp_path}/none.toml: cannot read the settings file: "
           "No such file or directory.\n")


def test_settings_init_path_and_show(tmp_path: Path) -> None:
    env = {"LISTSYNC_CONFIG": str(tmp_path / "s.toml")}
    assert run_cli("settings", "path", **env).stdout == f"{tmp_path}/s.toml\n"
    first = run_cli("settings", "init", **env)
    assert (first.returncode, first.stdout) == (0, f"wrote {tmp_path}/s.toml\n")
    assert (tmp_path / "s.toml").read_text() == dumps_settings()
    second = run_cli("settings", "init", **env)
    assert (second.returncode, second.stderr) == (
        2, f"listsync: {tmp_path}/s.toml already exists; use --force to replace it with the "
           "defaults.\n")
    (tmp_path / "s.toml").write_text('[general]\nuser = "shop"\n')
    shown = run_cli("settings", "show", **env)
    assert shown.returncode == 0
    assert shown.stdout.startswith(f"# from {tmp_path}/s.toml\n")
    assert '\nuser = "shop"\n' in shown.stdout


def test_serve_takes_port_tls_and_user_from_the_file_and_flags_win(tmp_path: Path) -> None:
    import socket
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "s.toml"
    config.write_text(f'[general]\nuser = "bob"\ndata_dir = "data"\n[listener]\n'
                      f'host = "127.0.0.1"\nport = {port}\ntls = "disabled"\nadvertise = false\n')
    serve = CliProcess("--config", str(config), "serve")
    try:
        assert serve.proc.stdout is not None
        line = serve.proc.stdout.readline()
        assert line == f"listening ws://127.0.0.1:{port}/userdb fingerprint=-\n"
        assert serve.stop() == 0
    finally:
        serve.kill()
    assert (tmp_path / "data" / "bob" / "userdb" / "journal").is_file()
    flag = run_cli("--config", str(config), "serve", "--port", "70000")
    assert (flag.returncode, flag.stderr) == (2, "listsync: Port 70000 is out of range "
                                                 "(0-65535).\n")


def test_sync_takes_validation_from_the_file_and_the_flag_wins(tmp_path: Path) -> None:
    config = tmp_path / "s.toml"
    config.write_text('[general]\nuser = "bob"\n[sync]\nvalidation = "pinned"\n')
    url = "wss://127.0.0.1:9/userdb"
    pinned = run_cli("--config", str(config), "--data-dir", str(tmp_path), "sync", url,
                     LISTSYNC_PASSWORD="password")
    assert (pinned.returncode, pinned.stderr) == (
        2, "listsync: Pinned validation needs a certificate file (--pinned-cert).\n")
    flag = run_cli("--config", str(config), "--data-dir", str(tmp_path), "sync", url,
                   "--validation", "skip", "--retries", "1", LISTSYNC_PASSWORD="password")
    assert flag.returncode == 5  # got as far as connecting (nothing listens on port 9)
