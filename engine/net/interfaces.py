"""Which network interfaces mDNS can use here, and whether multicast works at all.

Reads interface flags (up, multicast, loopback) with SIOCGIFFLAGS on Linux and
addresses with ifaddr; turns a user's interface selection into zeroconf's form.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import ifaddr

from engine.errors import ConfigError

_SIOCGIFFLAGS = 0x8913  # Linux
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_MULTICAST = 0x1000
MDNS_GROUP_V4 = "224.0.0.251"
MDNS_GROUP_V6 = "ff02::fb"


@dataclass(frozen=True, slots=True)
class Interface:
    """One network interface as mDNS sees it."""

    name: str
    index: int
    up: bool
    loopback: bool
    multicast: bool
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]  # link-local ones carry "%<name>"

    @property
    def usable(self) -> bool:
        """Up, multicast-capable, not loopback, and holding an address."""
        return self.up and self.multicast and not self.loopback and bool(self.ipv4 or self.ipv6)

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.ipv4 + self.ipv6


def _flags(name: str) -> int | None:
    """The interface's IFF_* flags, or None where the ioctl is unavailable."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            raw = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, struct.pack("256s", name.encode()))
    except OSError:
        return None
    flags: int = struct.unpack("H", raw[16:18])[0]
    return flags


def list_interfaces() -> list[Interface]:
    """Every interface with its flags and addresses, in index order."""
    found: list[Interface] = []
    for adapter in ifaddr.get_adapters():
        v4 = tuple(str(ip.ip) for ip in adapter.ips if ip.is_IPv4)
        v6 = tuple(_v6_text(ip.ip[0], adapter.name) for ip in adapter.ips if ip.is_IPv6)
        flags = _flags(adapter.name)
        if flags is None:
            # No flags (not Linux): judge by addresses alone.
            loop = all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in v4 + v6)
            flags = _IFF_UP | _IFF_MULTICAST | (_IFF_LOOPBACK if loop and (v4 or v6) else 0)
        found.append(Interface(
            name=adapter.name, index=adapter.index or 0, up=bool(flags & _IFF_UP),
            loopback=bool(flags & _IFF_LOOPBACK), multicast=bool(flags & _IFF_MULTICAST),
            ipv4=v4, ipv6=v6,
        ))
    return sorted(found, key=lambda i: i.index)


def _v6_text(addr: str, ifname: str) -> str:
    if ipaddress.IPv6Address(addr.split("%")[0]).is_link_local:
        return f"{addr.split('%')[0]}%{ifname}"
    return addr


def select_interfaces(
    choice: Sequence[str] | None, interfaces: list[Interface] | None = None
) -> list[Interface]:
    """The interfaces mDNS should use.

    `choice` None means every usable interface; otherwise each entry is an
    interface name or one of its addresses (an address narrows that interface
    to the address). Raises ConfigError for a name or address that is not here.
    """
    present = list_interfaces() if interfaces is None else interfaces
    if choice is None:
        return [i for i in present if i.usable]
    picked: dict[str, Interface] = {}
    for entry in choice:
        match = _match(entry, present)
        if match is None:
            raise ConfigError(f"There is no network interface or local address named {entry!r}.")
        previous = picked.get(match.name)
        if previous is not None and previous.addresses != match.addresses:
            match = _merge(previous, match)
        picked[match.name] = match
    return list(picked.values())


def _match(entry: str, present: list[Interface]) -> Interface | None:
    for iface in present:
        if iface.name == entry:
            return iface
    try:
        wanted = ipaddress.ip_address(entry.split("%")[0])
    except ValueError:
        return None
    for iface in present:
        for addr in iface.addresses:
            if ipaddress.ip_address(addr.split("%")[0]) == wanted:
                v4 = (addr,) if wanted.version == 4 else ()
                v6 = (addr,) if wanted.version == 6 else ()
                return Interface(iface.name, iface.index, iface.up, iface.loopback,
                                 iface.multicast, v4, v6)
    return None


def _merge(a: Interface, b: Interface) -> Interface:
    return Interface(a.name, a.index, a.up, a.loopback, a.multicast,
                     tuple(dict.fromkeys(a.ipv4 + b.ipv4)), tuple(dict.fromkeys(a.ipv6 + b.ipv6)))


def advertised_addresses(chosen: list[Interface], present: list[Interface]) -> list[str]:
    """The addresses to put in our A/AAAA records: IPv4 first, then IPv6.

    Loopback is left out unless nothing else exists (a lone test box), so
    peers are never told to dial 127.0.0.1.
    """
    addrs = [a for i in chosen for a in i.ipv4] + [a for i in chosen for a in i.ipv6]
    if not addrs:
        addrs = [a for i in present if i.loopback for a in i.ipv4 + i.ipv6]
    return list(dict.fromkeys(addrs))


def zeroconf_interfaces(chosen: list[Interface]) -> list[str | int]:
    """zeroconf's interface list: IPv4 addresses and IPv6 interface indexes.

    One IPv6 entry per interface, because joining ff02::fb twice on one
    interface fails.
    """
    result: list[str | int] = [a for i in chosen for a in i.ipv4]
    result += [i.index for i in chosen if i.ipv6 and i.index]
    return result


def link_local_zone(peer_ipv4: Sequence[str]) -> str | None:
    """The interface on which a peer's unscoped link-local IPv6 address lives.

    Records that arrive over IPv4 carry no zone. The peer is on the link of
    whichever of our interfaces shares an IPv4 subnet with it, or on our only
    IPv6-capable interface if there is just one. None when it cannot be told.
    """
    adapters = [a for a in ifaddr.get_adapters() if a.name != "lo"]
    for addr in peer_ipv4:
        ip = ipaddress.IPv4Address(addr)
        for adapter in adapters:
            for net in adapter.ips:
                if net.is_IPv4 and ip in ipaddress.IPv4Network(
                        f"{net.ip}/{net.network_prefix}", strict=False):
                    return str(adapter.name)
    with_v6 = [i.name for i in list_interfaces() if i.usable and i.ipv6]
    return with_v6[0] if len(with_v6) == 1 else None


@dataclass(frozen=True, slots=True)
class MulticastCheck:
    """The answer of `multicast_available()`: truthy when mDNS can work here."""

    ok: bool
    reason: str
    interfaces: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.ok


def multicast_available(choice: Sequence[str] | None = None) -> MulticastCheck:
    """Whether this host can send and receive mDNS on some interface.

    Needs a usable interface (up, MULTICAST flag, not loopback, with an
    address) on which joining the mDNS group succeeds. Raises ConfigError
    when `choice` names an interface or address that is not here.
    """
    chosen = select_interfaces(choice)
    if not chosen:
        return MulticastCheck(
            False,
            "Multicast does not work here: no network interface is up with multicast "
            "enabled (only loopback or nothing), so peers cannot be discovered; "
            "add peers by address with 'listsync peers add HOST:PORT'.",
        )
    joined = tuple(i.name for i in chosen if _can_join(i))
    if not joined:
        return MulticastCheck(
            False,
            "Multicast does not work here: joining the mDNS group failed on every "
            f"interface ({', '.join(i.name for i in chosen)}); add peers by address "
            "with 'listsync peers add HOST:PORT'.",
        )
    return MulticastCheck(True, f"Multicast works on {', '.join(joined)}.", joined)


def _can_join(iface: Interface) -> bool:
    if iface.ipv4:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            mreq = socket.inet_aton(MDNS_GROUP_V4) + socket.inet_aton(iface.ipv4[0])
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface.ipv4[0]))
            return True
    if iface.ipv6 and iface.index:
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            mreq = socket.inet_pton(socket.AF_INET6, MDNS_GROUP_V6)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                         mreq + struct.pack("@I", iface.index))
            return True
    return False
