"""Admission control for the ingest port: address allow-list and connection cap."""

from __future__ import annotations

import ipaddress
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ConnectionGuard:
    def __init__(self, max_clients: int, allow: str = "") -> None:
        self.max_clients = max_clients
        self.allow: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in allow.split(",") if n
        )

    def allowed(self, peername: Any) -> bool:
        """Whether a peer address (as from ``get_extra_info('peername')``) may connect."""
        if not self.allow:
            return True
        try:
            addr = ipaddress.ip_address(peername[0])
        except (TypeError, ValueError, IndexError):
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return any(addr in net for net in self.allow if net.version == addr.version)

    def full(self, open_now: int) -> bool:
        return open_now >= self.max_clients
