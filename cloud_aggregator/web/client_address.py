"""The client's address for throttling and logs: ``X-Forwarded-For`` counts only from trusted proxies.

Anyone can send ``X-Forwarded-For``; believing it from any peer let a blocked client log in again with a
made-up address. So the peer address is the client unless the peer is one of ``web.trusted_proxies``;
then the header is read right to left, skipping our own proxies, and the first address not ours is the
client (entries left of it were written by the client and prove nothing). uvicorn's own proxy-header
handling is switched off (``server.build``) so this is the one place that decides.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cloud_aggregator.config.web import Network


def _in(addr: str, nets: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The address to throttle: ``peer`` itself unless it is a trusted proxy (see the module docstring)."""
    peer = peer or "?"
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [h.strip() for header in forwarded_for for h in header.split(",")]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # garbage in the chain: trust nothing further left
        client = hop
        if not _in(hop, trusted):
            break
    return client
