"""Browsing the LAN for listsync listeners: an async stream of peer events.

Theory of operation: zeroconf's browser only *prompts* us (a name was added,
updated or removed). The truth is zeroconf's record cache, which we read
ourselves: a peer exists while its SRV record is unexpired and we know an
address and its TXT. Once a second we re-read every peer from the cache,
which turns changed records into `PeerChanged` and expired ones into
`PeerLeft`. That is needed because zeroconf raises every received PTR TTL to
at least 1125 s, so its own "Removed" would come ~19 minutes after a power cut.
To keep live peers from expiring, we re-ask for a peer's records at 75%, 85%
and 95% of the SRV TTL (RFC 6762 section 5.2, which zeroconf does for PTRs only).

Worst-case delay before a dead peer is dropped: its SRV TTL (20 s for our
adverts) plus `check_interval` (1 s). A goodbye drops it within ~1 s.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import math
import socket
from collections.abc import Iterable
from types import TracebackType

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from zeroconf import ServiceStateChange, Zeroconf, current_time_millis
from zeroconf._dns import DNSAddress, DNSPointer, DNSQuestion, DNSRecord, DNSService, DNSText
from zeroconf._protocol.outgoing import DNSOutgoing
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo

from engine.net.interfaces import link_local_zone
from engine.net.peers import (
    SERVICE_TYPE,
    TXT_PEER_ID,
    DiscoveredPeer,
    PeerAppeared,
    PeerChanged,
    PeerEvent,
    PeerLeft,
)
from engine.net.zc import InterfaceMode, InterfaceSpec, MdnsSockets

log = logging.getLogger(__name__)

_TYPE_A, _TYPE_PTR, _TYPE_TXT, _TYPE_AAAA, _TYPE_SRV = 1, 12, 16, 28, 33
_CLASS_IN = 1
_FLAGS_QUERY = 0x0000
_REFRESH_AT = (0.75, 0.85, 0.95)  # fractions of the SRV TTL at which we re-ask


class Browser:
    """Discovered peers as an async iterator of PeerAppeared/PeerChanged/PeerLeft.

    Use inside `async with Browser(...) as browser: async for event in browser:`
    (once per Browser; asyncio only, as zeroconf is). `browser.peers` is the
    current list. Adverts whose TXT "id" is `own_peer_id` are ignored (ourselves).
    """

    def __init__(
        self,
        *,
        own_peer_id: str | None = None,
        interfaces: InterfaceSpec = None,
        resolve_timeout: float = 3.0,
        check_interval: float = 1.0,
        poll_interval: float = 3.0,
    ) -> None:
        self.own_peer_id = own_peer_id
        self.resolve_timeout = resolve_timeout
        self.check_interval = check_interval
        self.poll_interval = poll_interval
        self._sockets = MdnsSockets(interfaces)
        self._peers: dict[str, DiscoveredPeer] = {}  # by lower-cased service name
        self._refreshed: dict[str, tuple[float, int]] = {}  # name -> (SRV created, stage)
        self._resolving: set[str] = set()
        self._tg: TaskGroup | None = None
        self._browser: AsyncServiceBrowser | None = None
        self._send: MemoryObjectSendStream[PeerEvent] | None = None
        self._receive: MemoryObjectReceiveStream[PeerEvent] | None = None

    @property
    def peers(self) -> list[DiscoveredPeer]:
        """The peers known right now, sorted by name."""
        return sorted(self._peers.values(), key=lambda p: (p.name.lower(), p.name))

    @property
    def interface_mode(self) -> InterfaceMode:
        return self._sockets.mode

    async def __aenter__(self) -> Browser:
        if self._receive is not None:
            raise RuntimeError("a Browser can be entered only once")
        # Unbounded: events are few and small, and zeroconf's callbacks cannot wait.
        self._send, self._receive = anyio.create_memory_object_stream[PeerEvent](math.inf)
        aiozc = self._sockets.open()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._browser = AsyncServiceBrowser(aiozc.zeroconf, [SERVICE_TYPE],
                                            handlers=[self._on_state_change])
        self._tg.start_soon(self._maintain)
        self._tg.start_soon(self._follow_interfaces)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        tg, self._tg = self._tg, None
        try:
            if self._browser is not None:
                await self._browser.async_cancel()
                self._browser = None
            if tg is not None:
                tg.cancel_scope.cancel()
                await tg.__aexit__(None, None, None)
        finally:
            if self._send is not None:
                self._send.close()
            if self._receive is not None:
                self._receive.close()
            with anyio.CancelScope(shield=True):
                await self._sockets.close()

    def __aiter__(self) -> Browser:
        return self

    async def __anext__(self) -> PeerEvent:
        if self._receive is None:
            raise RuntimeError("iterate a Browser inside `async with`")
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise StopAsyncIteration from None

    # zeroconf calls this in the event loop, with keyword arguments.
    def _on_state_change(self, *, zeroconf: Zeroconf, service_type: str, name: str,
                         state_change: ServiceStateChange) -> None:
        if self._tg is None:
            return
        if state_change is ServiceStateChange.Removed:
            self._drop(name.lower())
        elif name.lower() not in self._resolving:
            self._resolving.add(name.lower())
            self._tg.start_soon(self._resolve, name)

    async def _resolve(self, name: str) -> None:
        key = name.lower()
        try:
            zc = self._sockets.aiozc.zeroconf
            peer = _peer_from_cache(zc, name)
            if peer is None:
                info = AsyncServiceInfo(SERVICE_TYPE, name)
                await info.async_request(zc, self.resolve_timeout * 1000)
                peer = _peer_from_cache(zc, name)
            if peer is not None:
                self._put(key, peer)
        except Exception as err:  # one odd advert must not end browsing
            log.warning("Could not resolve %s: %s", name, err)
        finally:
            self._resolving.discard(key)

    def _put(self, key: str, peer: DiscoveredPeer) -> None:
        if self.own_peer_id is not None and peer.txt.get(TXT_PEER_ID) == self.own_peer_id:
            return
        previous = self._peers.get(key)
        if previous == peer:
            return
        self._peers[key] = peer
        self._emit(PeerAppeared(peer) if previous is None else PeerChanged(peer, previous))

    def _drop(self, key: str) -> None:
        self._refreshed.pop(key, None)
        gone = self._peers.pop(key, None)
        if gone is not None:
            self._emit(PeerLeft(gone))

    def _emit(self, event: PeerEvent) -> None:
        if self._send is not None:
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                self._send.send_nowait(event)  # after exit nobody is listening

    async def _maintain(self) -> None:
        while True:
            await anyio.sleep(self.check_interval)
            self._check_cache()

    def _check_cache(self) -> None:
        zc = self._sockets.aiozc.zeroconf
        now = current_time_millis()
        for name in self._names_in_cache(zc, now):
            key = name.lower()
            peer = _peer_from_cache(zc, name, now)
            if peer is None:
                self._drop(key)
                continue
            self._put(key, peer)
            if key in self._peers:
                self._maybe_refresh(zc, name, now)

    def _names_in_cache(self, zc: Zeroconf, now: float) -> Iterable[str]:
        # Known peers plus every name the cache still points at: a peer that
        # comes back before its old PTR expires raises no "Added" in zeroconf.
        names = {
            p.alias.lower(): p.alias
            for p in zc.cache.get_all_by_details(SERVICE_TYPE, _TYPE_PTR, _CLASS_IN)
            if isinstance(p, DNSPointer) and not p.is_expired(now)
        }
        for key, peer in self._peers.items():
            names.setdefault(key, f"{peer.name}.{SERVICE_TYPE}")
        return list(names.values())

    def _maybe_refresh(self, zc: Zeroconf, name: str, now: float) -> None:
        srv = _latest(zc, name, _TYPE_SRV, now)
        if not isinstance(srv, DNSService):
            return
        key = name.lower()
        created, stage = self._refreshed.get(key, (0.0, 0))
        if created != srv.created:
            stage = 0
        due = stage < len(_REFRESH_AT) and now >= srv.get_expiration_time(
            int(_REFRESH_AT[stage] * 100))
        if due:
            self._refreshed[key] = (srv.created, stage + 1)
            out = DNSOutgoing(_FLAGS_QUERY)
            server = srv.server
            for qname, qtype in ((name, _TYPE_SRV), (name, _TYPE_TXT),
                                 (server, _TYPE_A), (server, _TYPE_AAAA)):
                out.add_question(DNSQuestion(qname, qtype, _CLASS_IN))
            zc.async_send(out)
        else:
            self._refreshed[key] = (srv.created, stage)

    async def _follow_interfaces(self) -> None:
        while True:
            await anyio.sleep(self.poll_interval)
            await self._sockets.refresh()


def _latest(zc: Zeroconf, name: str, rtype: int, now: float) -> DNSRecord | None:
    """The newest unexpired record of a name and type (an old one may linger ~1 s)."""
    live = [r for r in zc.cache.get_all_by_details(name, rtype, _CLASS_IN) if not r.is_expired(now)]
    return max(live, key=lambda r: r.created, default=None)


def _peer_from_cache(zc: Zeroconf, name: str, now: float | None = None) -> DiscoveredPeer | None:
    """The peer as zeroconf's cache knows it, or None if incomplete or expired."""
    now = current_time_millis() if now is None else now
    cache = zc.cache
    srv = _latest(zc, name, _TYPE_SRV, now)
    txt = _latest(zc, name, _TYPE_TXT, now)
    if not isinstance(srv, DNSService) or not isinstance(txt, DNSText):
        return None
    v4: list[str] = []
    v6: list[str] = []
    for rtype in (_TYPE_A, _TYPE_AAAA):
        for rec in cache.get_all_by_details(srv.server, rtype, _CLASS_IN):
            if isinstance(rec, DNSAddress) and not rec.is_expired(now):
                (v4 if rtype == _TYPE_A else v6).append(_address_text(rec))
    if any("%" not in a and _is_link_local(a) for a in v6):
        zone = link_local_zone(v4)
        v6 = [f"{a}%{zone}" if zone and "%" not in a and _is_link_local(a) else a for a in v6]
        v6 = [a for a in v6 if "%" in a or not _is_link_local(a)]  # undialable without a zone
    if not v4 and not v6:
        return None
    v6.sort(key=lambda a: (_is_link_local(a), a))  # routable first; stable across reads
    instance = srv.name[: -len(SERVICE_TYPE) - 1] if srv.name.lower().endswith(
        SERVICE_TYPE) else srv.name
    return DiscoveredPeer(
        name=instance, host=srv.server,
        addresses=tuple(dict.fromkeys(sorted(v4) + v6)),
        port=srv.port, txt=decode_txt(txt.text), source="mdns",
    )


def _is_link_local(addr: str) -> bool:
    return ipaddress.IPv6Address(addr.split("%")[0]).is_link_local


def _address_text(rec: DNSAddress) -> str:
    family = socket.AF_INET if len(rec.address) == 4 else socket.AF_INET6
    text = socket.inet_ntop(family, rec.address)
    if family == socket.AF_INET6 and text.lower().startswith("fe80") and rec.scope_id:
        try:
            return f"{text}%{socket.if_indextoname(rec.scope_id)}"
        except OSError:
            return f"{text}%{rec.scope_id}"
    return text


def decode_txt(text: bytes) -> dict[str, str]:
    """TXT record bytes to a dict (RFC 6763 section 6: first key wins, keys case-insensitive)."""
    result: dict[str, str] = {}
    i = 0
    while i < len(text):
        length = text[i]
        item = text[i + 1: i + 1 + length]
        i += 1 + length
        key, _, value = item.partition(b"=")
        k = key.decode("ascii", errors="replace").lower()
        if k and k not in result:
            result[k] = value.decode("utf-8", errors="replace")
    return result


async def browse_once(duration: float, *, own_peer_id: str | None = None,
                      interfaces: InterfaceSpec = None) -> list[DiscoveredPeer]:
    """Browse for `duration` seconds and return the peers present at the end."""
    async with Browser(own_peer_id=own_peer_id, interfaces=interfaces) as browser:
        with anyio.move_on_after(duration):
            async for _ in browser:
                pass
        return browser.peers
