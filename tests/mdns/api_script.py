"""Drives the public engine API the way the app will, inside one namespace.

Run as `python -W error tests/mdns/api_script.py PEER_TO_FIND`: advertises as
"api" (peer id "api-a") and browses in the same process, prints what it saw
as JSON, changes its TXT, then waits for SIGTERM and exits cleanly.
"""

from __future__ import annotations

import json
import signal
import sys

import anyio

from engine import Advertiser, Browser, PeerAppeared


async def main(wanted_id: str) -> None:
    advertiser = Advertiser(port=4993, peer_id="api-a", name="api", db="shop",
                            tls="generated", fingerprint=":".join(["AB"] * 32))
    with anyio.open_signal_receiver(signal.SIGTERM) as signals:
        async with advertiser:
            async with Browser(own_peer_id="api-a") as browser:
                seen: list[str | None] = []
                with anyio.fail_after(5):
                    async for event in browser:
                        seen.append(event.peer.peer_id)
                        if isinstance(event, PeerAppeared) and event.peer.peer_id == wanted_id:
                            break
                print(json.dumps({"seen": seen, "peers": [p.peer_id for p in browser.peers],
                                  "mode": browser.interface_mode}), flush=True)
            await advertiser.update_txt(db="other")
            print("updated", flush=True)
            async for _ in signals:
                break
    print("stopped", flush=True)


if __name__ == "__main__":
    anyio.run(main, sys.argv[1])
