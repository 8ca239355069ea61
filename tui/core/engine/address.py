"""Where a server engine may connect: the user's own machines, by default.

A server URL is checked by the address it resolves to, not by its name:
loopback always; private LAN addresses (RFC 1918, IPv6 unique-local,
link-local) as a "LAN host"; anything else only with ``allow_remote = true``
and over https, shown as a "REMOTE host". Every address the name resolves
to must pass (a name that resolves to a LAN and a public address is
remote).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from tui.core.engine.api import EngineError

AddressKind = Literal["loopback", "lan", "remote"]
BADGES: dict[AddressKind, str] = {"loopback": "LOCAL", "lan": "LAN host", "remote": "REMOTE host"}


@dataclass(frozen=True)
class ServerAddress:
    url: str            # scheme://host:port, no path, no credentials
    scheme: str
    host: str
    port: int
    ips: tuple[str, ...]
    kind: AddressKind

    @property
    def badge(self) -> str:
        return BADGES[self.kind]

    def connect_url(self) -> str:
        """Plain http connects to the address that was checked (a second
        lookup cannot point elsewhere); https keeps the name for TLS."""
        if self.scheme == "https":
            return self.url
        ip = self.ips[0]
        host = f"[{ip}]" if ":" in ip else ip
        return f"http://{host}:{self.port}"


def kind_of(ip: str) -> AddressKind:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return "loopback"
    if addr.is_link_local:
        return "lan"
    if isinstance(addr, ipaddress.IPv4Address):
        private = any(addr in ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
    else:
        private = addr in ipaddress.ip_network("fc00::/7")
    return "lan" if private else "remote"


def check_url(url: str, *, allow_remote: bool = False) -> ServerAddress:
    """The checked address of a server URL, or ``EngineError`` saying why not."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EngineError(f"engine url {url!r} is not an http(s) URL like http://127.0.0.1:8080")
    if parts.username or parts.password:
        raise EngineError("put no credentials in the engine url; use api_key_file or api_key_env")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise EngineError(f"engine url {url!r} has a bad port") from None
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise EngineError(f"cannot resolve the engine host {host!r}: {exc}") from None
    ips = tuple(dict.fromkeys(str(i[4][0]) for i in infos))
    kinds = {kind_of(ip) for ip in ips}
    kind: AddressKind = "remote" if "remote" in kinds else "lan" if "lan" in kinds else "loopback"
    if kind == "remote":
        if not allow_remote:
            raise EngineError(
                f"{host} ({', '.join(ips)}) is not on this machine or your local network; "
                "set [engine] allow_remote = true to use a server elsewhere"
            )
        if parts.scheme != "https":
            raise EngineError(f"a remote engine must use https (got {parts.scheme}://{host})")
    shown = f"[{host}]" if ":" in host else host
    return ServerAddress(f"{parts.scheme}://{shown}:{port}", parts.scheme, host, port, ips, kind)
