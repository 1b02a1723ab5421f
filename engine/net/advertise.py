"""Advertising our listener on the LAN as `_cblistservicesync._tcp` (DNS-SD over mDNS).

`Advertiser` registers one service with short TTLs, re-announces when this
host's addresses change, and says goodbye on exit so browsers drop it at once.
"""

from __future__ import annotations

import getpass
import logging
import re
import socket
from collections.abc import Mapping
from types import TracebackType

import anyio
from anyio.abc import TaskGroup
from zeroconf import BadTypeInNameException, NonUniqueNameException, ServiceInfo

from engine.errors import ConfigError, NetworkError
from engine.net.peers import (
    SERVICE_TYPE,
    TXT_DB,
    TXT_FINGERPRINT,
    TXT_PEER_ID,
    TXT_PROTOCOL,
    TXT_TLS,
)
from engine.net.zc import InterfaceMode, InterfaceSpec, MdnsSockets

log = logging.getLogger(__name__)

# TTLs of our records, in seconds. RFC 6762 suggests 120 s for host records;
# ours are short so that a Pi whose power is cut vanishes from browsers
# within about HOST_TTL seconds (our Browser expires peers on the SRV record,
# which carries HOST_TTL). OTHER_TTL covers PTR and TXT.
HOST_TTL = 20
OTHER_TTL = 120
POLL_INTERVAL = 3.0  # s between checks of this host's addresses
PROTOCOL_VERSION = "1"
_MAX_LABEL = 63  # bytes in one DNS label (the instance name)


def default_instance_name() -> str:
    """"user@host", the readable default name of our advert."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "listsync"
    return f"{user}@{socket.gethostname().split('.')[0]}"


def _fit_label(name: str) -> str:
    # Leave room for the "-NN" zeroconf appends on a name collision.
    name = name.replace(".", "-").strip() or "listsync"
    data = name.encode("utf-8")[: _MAX_LABEL - 4]
    return data.decode("utf-8", errors="ignore")


def _server_name(peer_id: str) -> str:
    # Unique per peer: cloned SD-card images all called "raspberrypi" must not
    # merge their address records under one host name in browsers' caches.
    host = re.sub(r"[^a-z0-9-]", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    tag = re.sub(r"[^a-z0-9]", "", peer_id.lower())[:8] or "peer"
    return f"{(host or 'listsync')[:40]}-{tag}.local."


class Advertiser:
    """Advertises one listener while inside `async with`; goodbye on exit.

    `name` is the readable instance name (default "user@host"); on a clash
    zeroconf makes it unique ("name-2"), see `.name` after entering.
    `interfaces`: None for every usable interface, a list of interface names
    or addresses, or "default" (see engine.net.zc.InterfaceSpec). asyncio only
    (zeroconf is). Raises ConfigError or NetworkError on entry if it cannot advertise.
    """

    def __init__(
        self,
        *,
        port: int,
        peer_id: str,
        db: str = "userdb",
        tls: str = "anonymous",
        fingerprint: str | None = None,
        protocol_version: str = PROTOCOL_VERSION,
        name: str | None = None,
        extra_txt: Mapping[str, str] | None = None,
        interfaces: InterfaceSpec = None,
        host_ttl: int = HOST_TTL,
        other_ttl: int = OTHER_TTL,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        if not 0 < port < 65536:
            raise ConfigError(f"Port {port} is not between 1 and 65535.")
        if not peer_id:
            raise ConfigError("An advert needs a peer id.")
        self.port = port
        self.peer_id = peer_id
        self._requested_name = _fit_label(name or default_instance_name())
        txt = dict(extra_txt or {})
        txt.update({TXT_DB: db, TXT_TLS: tls, TXT_PROTOCOL: protocol_version, TXT_PEER_ID: peer_id})
        if fingerprint and tls != "disabled":
            txt[TXT_FINGERPRINT] = fingerprint.replace(":", "").lower()
        self.txt: dict[str, str] = txt
        self.host_ttl = host_ttl
        self.other_ttl = other_ttl
        self.poll_interval = poll_interval
        self._sockets = MdnsSockets(interfaces)
        self._info: ServiceInfo | None = None
        self._tg: TaskGroup | None = None
        self.reannounced = 0  # how many times we re-announced after an address change

    @property
    def name(self) -> str:
        """The instance name as registered (after any collision renaming)."""
        if self._info is None:
            return self._requested_name
        return self._info.name[: -len(SERVICE_TYPE) - 1]

    @property
    def addresses(self) -> tuple[str, ...]:
        return self._sockets.addresses

    @property
    def interface_mode(self) -> InterfaceMode:
        return self._sockets.mode

    @property
    def host(self) -> str:
        return _server_name(self.peer_id)

    async def __aenter__(self) -> Advertiser:
        aiozc = self._sockets.open()
        try:
            self._info = ServiceInfo(
                SERVICE_TYPE, f"{self._requested_name}.{SERVICE_TYPE}", port=self.port,
                properties=dict(self.txt), server=self.host,
                parsed_addresses=_record_addresses(self.addresses),
                host_ttl=self.host_ttl, other_ttl=self.other_ttl,
            )
            # strict=False: "cblistservicesync" is longer than RFC 6763's
            # 15 characters and zeroconf refuses it otherwise.
            announced = await aiozc.async_register_service(
                self._info, allow_name_change=True, strict=False)
            await announced
        except BaseException as err:
            self._info = None
            with anyio.CancelScope(shield=True):
                await self._sockets.close()
            if isinstance(err, NonUniqueNameException | BadTypeInNameException):
                raise ConfigError(f"Cannot advertise as {self._requested_name!r}: {err}.") from err
            if isinstance(err, OSError):
                raise NetworkError(f"Cannot advertise on the LAN: {err}.") from err
            raise
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._follow_addresses)
        log.info("advertising %s on %s:%d", self.name, ",".join(self.addresses), self.port)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        tg, self._tg = self._tg, None
        try:
            if tg is not None:
                tg.cancel_scope.cancel()
                await tg.__aexit__(None, None, None)
        finally:
            with anyio.CancelScope(shield=True):
                await self._goodbye()

    async def _goodbye(self) -> None:
        info, self._info = self._info, None
        try:
            if info is not None:
                # The call returns an awaitable; only awaiting it sends the goodbyes.
                sent = await self._sockets.aiozc.async_unregister_service(info)
                await sent
        except OSError as err:
            log.warning("Could not send the mDNS goodbye: %s", err)
        finally:
            await self._sockets.close()
        # Keep reporting the name we had after stopping.
        if info is not None:
            self._requested_name = info.name[: -len(SERVICE_TYPE) - 1]

    async def update_txt(self, **changes: str | None) -> None:
        """Change TXT properties (None removes one) and re-announce."""
        for key, value in changes.items():
            if value is None:
                self.txt.pop(key, None)
            else:
                self.txt[key] = value
        if self._info is not None:
            self._info = _copy_info(self._info, properties=dict(self.txt))
            await self._announce()

    async def _follow_addresses(self) -> None:
        while True:
            await anyio.sleep(self.poll_interval)
            if await self._sockets.refresh() and self._info is not None:
                log.info("addresses changed to %s; re-announcing", ",".join(self.addresses))
                self._info = _copy_info(self._info,
                                        parsed_addresses=_record_addresses(self.addresses))
                await self._announce()
                self.reannounced += 1

    async def _announce(self) -> None:
        assert self._info is not None
        sent = await self._sockets.aiozc.async_update_service(self._info)
        await sent


def _record_addresses(addresses: tuple[str, ...]) -> list[str]:
    # A/AAAA records carry no zone id; browsers learn it from the receiving interface.
    return list(dict.fromkeys(a.split("%")[0] for a in addresses))


def _copy_info(info: ServiceInfo, *, properties: dict[str, str] | None = None,
               parsed_addresses: list[str] | None = None) -> ServiceInfo:
    """A new ServiceInfo like `info` with some fields replaced.

    zeroconf caches a registration's DNS records inside the ServiceInfo, so
    an update is made from a fresh object rather than by mutating it.
    """
    return ServiceInfo(
        info.type, info.name, port=info.port,
        properties=properties if properties is not None else info.properties,
        server=info.server, host_ttl=info.host_ttl, other_ttl=info.other_ttl,
        parsed_addresses=parsed_addresses if parsed_addresses is not None
        else info.parsed_addresses(),
    )
