"""Where a request came from, coarsened so that one machine counts as one client.

Used only to slow down abuse (sign-in throttling, flood limits); callers keep nothing but a keyed hash
of the result. An IPv6 address counts as its /64 (one subscriber line), an IPv4 address as itself,
except the ``whole`` networks (e.g. Tor's per-circuit addresses), whose addresses count one by one.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_source(request: HttpRequest, whole: tuple[ipaddress.IPv6Network, ...] = ()) -> str:
    raw = request.META.get("REMOTE_ADDR", "")
    if settings.HOTLINE_TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            raw = forwarded.split(",")[-1].strip()
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if any(address in network for network in whole):
            return str(address)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)
