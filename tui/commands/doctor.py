"""`listsync doctor`: check what usually breaks on a Raspberry Pi, and say what to do.

Each check prints `ok` or `FAIL` with a reason, and a `fix:` line for each
failure; the exit code is 0 when everything is fine, 1 otherwise. It reads the
same settings as `run` (port, TLS mode, identity, data dir).
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import (
    Allowlist,
    ConfigError,
    EngineError,
    Identity,
    Settings,
    data_dir,
    effective_allowlist_path,
    generated_identity,
    generated_paths,
    load_identity,
    multicast_available,
)
from tui.commands._settings import settings_of
from tui.commands._tls_common import data_dir_of

MIN_YEAR = 2024  # a clock before this has surely not been set (no RTC, no NTP yet)
WARN_DAYS = 30


@dataclass(frozen=True, slots=True)
class Finding:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def register(sub: Any) -> None:
    p = sub.add_parser("doctor", help="check multicast, port, identity, allowlist and clock")
    p.add_argument("--port", metavar="N", type=int,
                   help="the port to test (default: [listener] port of the settings)")
    p.set_defaults(func=run_doctor)


def check_multicast(s: Settings) -> Finding:
    if not (s.listener_advertise or s.sync_browse):
        return Finding("multicast", True, "not needed: advertise and browse are off.")
    try:
        result = multicast_available()
    except (EngineError, OSError) as err:
        return Finding("multicast", False, f"could not inspect the interfaces: {err}",
                       "check `ip link` shows the Wi-Fi or Ethernet interface UP.")
    if result.ok:
        return Finding("multicast", True, result.reason)
    return Finding("multicast", False, result.reason,
                   "connect the Pi to the LAN (`ip addr` should show an address on eth0 or "
                   "wlan0); if the router blocks multicast, list peers in [peers] urls.")


def check_port(host: str | None, port: int) -> Finding:
    if port == 0:
        return Finding("port", True, "the OS picks a free port at each start; set [listener] "
                                     "port for a fixed one that peers can be given by address.")
    where = f"{host or '0.0.0.0'}:{port}"
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host or "0.0.0.0", port))
            sock.listen(1)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            return Finding("port", False, f"port {port} is in use by another program.",
                           f"find it with `sudo ss -ltnp 'sport = :{port}'` and stop it, "
                           "or set another [listener] port.")
        if err.errno == errno.EACCES:
            return Finding("port", False, f"port {port} needs root privileges.",
                           "use a port from 1024 up in [listener] port.")
        if err.errno == errno.EADDRNOTAVAIL:
            return Finding("port", False, f"{host} is not an address of this machine.",
                           "unset [listener] host (listen everywhere) or use an address "
                           "from `ip addr`.")
        return Finding("port", False, f"cannot listen on {where}: {err.strerror}.",
                       "choose another [listener] port or host.")
    return Finding("port", True, f"{where} is free.")


def _load(s: Settings, folder: Path) -> Identity | None:
    password = None
    if s.listener_identity_password_file is not None:
        try:
            text = s.listener_identity_password_file.read_text(encoding="utf-8")
        except OSError as err:
            raise ConfigError(f"Could not read {s.listener_identity_password_file}: "
                              f"{err.strerror}.") from err
        password = text.splitlines()[0] if text else ""
    if s.listener_tls == "generated":
        return generated_identity(folder, create=False)
    return load_identity(s.listener_tls, data_dir=folder, path=s.listener_identity,
                         password=password)


def check_identity(s: Settings, folder: Path, now: dt.datetime
                   ) -> tuple[Finding, Identity | None]:
    mode = s.listener_tls
    if mode == "disabled":
        return Finding("identity", True, "TLS is disabled: passwords and data cross the LAN "
                                         "in the clear."), None
    if mode == "anonymous":
        return Finding("identity", True, "anonymous: a new self-signed certificate is made at "
                                         "each start."), None
    if mode == "generated" and not generated_paths(folder)[0].exists():
        return Finding("identity", True, "generated: it will be created at the first start "
                                         f"(in {generated_paths(folder)[0].parent})."), None
    try:
        identity = _load(s, folder)
    except EngineError as err:
        fix = ("make a new one with `listsync identity replace` (peers that pinned it must "
               "pin the new one)." if mode == "generated" else
               "fix or replace [listener] identity (and its password file), or use "
               "tls = \"generated\".")
        if "not valid before" in str(err):
            fix = "set the clock (see the clock check), then try again."
        return Finding("identity", False, str(err), fix), None
    assert identity is not None
    until = identity.certificate.not_valid_after_utc
    left = (until - now).days
    detail = f"{mode}: valid until {until:%Y-%m-%d} ({left} days left)."
    if left < WARN_DAYS:
        return Finding("identity", False, f"{mode}: expires on {until:%Y-%m-%d}, in {left} "
                                          "days.",
                       "replace it before then (`listsync identity replace` for the "
                       "generated one); peers must pin the new certificate."), identity
    return Finding("identity", True, detail), identity


def check_allowlist(folder: Path) -> Finding:
    path = effective_allowlist_path(folder)
    try:
        allow = Allowlist.load(path)
    except EngineError as err:
        return Finding("allowlist", False, str(err),
                       f"fix that line of {path}, or move it away and add users again with "
                       "`listsync users add NAME`.")
    shipped = path.parent == data_dir()
    detail = f"{len(allow.entries)} users in {path}"
    if shipped:
        detail += " (the shipped sample; add your own with `listsync users add NAME`)"
    elif allow.plaintext_count:
        detail += (f"; {allow.plaintext_count} with plaintext passwords (re-add them with "
                   "`listsync users add NAME` to store a hash)")
    return Finding("allowlist", True, detail + ".")


def check_clock(now: dt.datetime, identity: Identity | None = None) -> Finding:
    fix = ("let the Pi reach the network so NTP sets the clock (`timedatectl` should say "
           "'System clock synchronized: yes'; `sudo timedatectl set-ntp true`), or install "
           "an RTC module.")
    if now.year < MIN_YEAR:
        return Finding("clock", False, f"the clock says {now:%Y-%m-%d %H:%M} UTC, which cannot "
                                       "be right; TLS certificates will look invalid.", fix)
    if identity is not None and now < identity.certificate.not_valid_before_utc:
        start = identity.certificate.not_valid_before_utc
        return Finding("clock", False, f"the clock ({now:%Y-%m-%d %H:%M} UTC) is before the "
                                       f"identity's start ({start:%Y-%m-%d %H:%M} UTC).", fix)
    return Finding("clock", True, f"{now:%Y-%m-%d %H:%M} UTC looks plausible.")


def diagnose(s: Settings, folder: Path, port: int, now: dt.datetime) -> list[Finding]:
    identity_finding, identity = check_identity(s, folder, now)
    return [check_multicast(s), check_port(s.listener_host, port), identity_finding,
            check_allowlist(folder), check_clock(now, identity)]


def run_doctor(args: argparse.Namespace) -> int:
    s = settings_of(args)
    port = args.port if args.port is not None else s.listener_port
    if not 0 <= port <= 65535:
        raise ConfigError(f"Port {port} is out of range (0-65535).")
    findings = diagnose(s, data_dir_of(args), port, dt.datetime.now(dt.UTC))
    for f in findings:
        print(f"{'ok  ' if f.ok else 'FAIL'}  {f.name}: {f.detail}")
        if not f.ok:
            print(f"      fix: {f.fix}")
    failed = sum(not f.ok for f in findings)
    print("all checks passed." if not failed else f"{failed} check(s) failed.")
    return 0 if not failed else 1
