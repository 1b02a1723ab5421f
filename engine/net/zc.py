"""Opening zeroconf on the right interfaces, and following interface changes.

The one place that turns zeroconf's socket errors into our `NetworkError`, and
that works around `InterfaceChoice.Default` failing on hosts with no default route.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from zeroconf import InterfaceChoice, IPVersion
from zeroconf.asyncio import AsyncZeroconf

from engine.errors import NetworkError
from engine.net.interfaces import (
    Interface,
    advertised_addresses,
    list_interfaces,
    select_interfaces,
    zeroconf_interfaces,
)

log = logging.getLogger(__name__)

# None: every usable interface; a list: those interface names or addresses;
# "default": only the interface the OS routes multicast to (zeroconf's own
# default), falling back to every usable interface when there is no route.
InterfaceSpec = Sequence[str] | Literal["default"] | None
# How the sockets were chosen: "all", "selected", "default", or
# "default-fallback" (Default failed, typically "No such device" without a default route).
InterfaceMode = Literal["all", "selected", "default", "default-fallback"]


@dataclass(frozen=True, slots=True)
class _Snapshot:
    zc_interfaces: tuple[str | int, ...]
    addresses: tuple[str, ...]


class MdnsSockets:
    """An `AsyncZeroconf` bound to the chosen interfaces, refreshed on demand."""

    def __init__(self, spec: InterfaceSpec = None) -> None:
        if isinstance(spec, str) and spec != "default":
            spec = [spec]  # one interface name, not a sequence of letters
        self.spec: InterfaceSpec = spec
        self.mode: InterfaceMode = "all"
        self._aiozc: AsyncZeroconf | None = None
        self._snapshot = _Snapshot((), ())

    @property
    def aiozc(self) -> AsyncZeroconf:
        if self._aiozc is None:
            raise RuntimeError("MdnsSockets.open() has not been called")
        return self._aiozc

    @property
    def addresses(self) -> tuple[str, ...]:
        """Our usable addresses as of the last open/refresh (IPv4 first)."""
        return self._snapshot.addresses

    def open(self) -> AsyncZeroconf:
        """Create the zeroconf instance; call from inside the running event loop."""
        if self.spec == "default":
            try:
                self._aiozc = AsyncZeroconf(interfaces=InterfaceChoice.Default,
                                            ip_version=IPVersion.V4Only)
                self.mode = "default"
                self._snapshot = self._scan()
                return self._aiozc
            except OSError as err:
                # ENODEV on a LAN with no default route: the kernel has no
                # interface for 224.0.0.251. Every usable interface will do.
                log.info("mDNS default interface unusable (%s); using all interfaces", err)
                self.mode = "default-fallback"
        else:
            self.mode = "all" if self.spec is None else "selected"
        self._snapshot = self._scan()
        zc_list = list(self._snapshot.zc_interfaces)
        try:
            self._aiozc = AsyncZeroconf(interfaces=zc_list, ip_version=_ip_version(zc_list))
        except OSError as err:
            raise NetworkError(f"Cannot open the mDNS sockets: {err.strerror or err}.") from err
        return self._aiozc

    async def refresh(self) -> bool:
        """Re-read the interfaces; re-bind zeroconf if they changed.

        Returns whether our addresses changed (so adverts need re-announcing).
        """
        new = self._scan()
        old, self._snapshot = self._snapshot, new
        if self.mode != "default" and new.zc_interfaces != old.zc_interfaces:
            zc_list = list(new.zc_interfaces)
            # Older zeroconf releases in our pinned range lack this call; there
            # the sockets stay as opened and only the records follow.
            update = getattr(self.aiozc, "async_update_interfaces", None)
            try:
                if update is not None:
                    await update(zc_list, _ip_version(zc_list))
            except OSError as err:
                log.warning("Could not follow the interface change: %s", err)
        return new.addresses != old.addresses

    def _scan(self) -> _Snapshot:
        present = list_interfaces()
        chosen: list[Interface] = select_interfaces(
            None if self.spec in (None, "default") else self.spec, present
        )
        return _Snapshot(tuple(zeroconf_interfaces(chosen)),
                         tuple(advertised_addresses(chosen, present)))

    async def close(self) -> None:
        if self._aiozc is not None:
            aiozc, self._aiozc = self._aiozc, None
            await aiozc.async_close()


def _ip_version(zc_list: list[str | int]) -> IPVersion:
    has_v4 = any(isinstance(i, str) for i in zc_list)
    has_v6 = any(isinstance(i, int) for i in zc_list)
    if has_v6 and not has_v4:
        return IPVersion.V6Only
    if has_v6:
        return IPVersion.All
    return IPVersion.V4Only
