"""Which servers an engine may reach: checked by resolved address."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from tui.core.engine.address import check_url, kind_of
from tui.core.engine.api import EngineError


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
        ("10.1.2.3", "lan"), ("172.16.0.9", "lan"), ("172.31.255.1", "lan"), ("192.168.1.20", "lan"),
        ("169.254.3.4", "lan"), ("fe80::1", "lan"), ("fd12:3456::1", "lan"), ("::ffff:192.168.0.2", "lan"),
        ("172.32.0.1", "remote"), ("8.8.8.8", "remote"), ("100.64.0.1", "remote"), ("2001:db8::1", "remote"),
        ("::ffff:8.8.8.8", "remote"),
    ],
)
def test_address_classes(ip, kind):
    assert kind_of(ip) == kind


def fake_resolver(monkeypatch, table: dict[str, list[str]]):
    def getaddrinfo(host, port, *a, **k):
        try:
            ipaddress.ip_address(host)
            table.setdefault(host, [host])
        except ValueError:
            pass
        if host not in table:
            raise socket.gaierror(-2, "Name or service not known")
        return [(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))
                for ip in table[host]]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_the_resolved_address_decides_not_the_name(monkeypatch):
    fake_resolver(monkeypatch, {
        "gpu-box.local": ["192.168.1.7"],
        "localhost.evil.example": ["203.0.113.5"],
        "split.example": ["192.168.1.7", "203.0.113.5"],
        "server.example": ["203.0.113.9"],
    })
    lan = check_url("http://gpu-box.local:8080")
    assert lan.kind == "lan" and lan.badge == "LAN host" and lan.connect_url() == "http://192.168.1.7:8080"
    with pytest.raises(EngineError, match="not on this machine or your local network.*allow_remote"):
        check_url("http://localhost.evil.example:8080")
    with pytest.raises(EngineError, match="allow_remote"):
        check_url("http://split.example:8080")  # one public address is enough to be remote
    with pytest.raises(EngineError, match="must use https"):
        check_url("http://server.example:8080", allow_remote=True)
    remote = check_url("https://server.example", allow_remote=True)
    assert remote.kind == "remote" and remote.badge == "REMOTE host" and remote.port == 443
    assert remote.connect_url() == "https://server.example:443"  # TLS checks the name
    with pytest.raises(EngineError, match="cannot resolve"):
        check_url("http://nowhere.invalid:1")


def test_urls_that_are_not_servers_are_refused(monkeypatch):
    fake_resolver(monkeypatch, {})
    for bad in ("ftp://127.0.0.1", "127.0.0.1:8080", "http://", "http://127.0.0.1:99999"):
        with pytest.raises(EngineError):
            check_url(bad)
    with pytest.raises(EngineError, match="no credentials"):
        check_url("http://user:secret@127.0.0.1:8080")
    assert check_url("http://127.0.0.1:8080/v1/").url == "http://127.0.0.1:8080"
    assert check_url("http://[::1]:8080").connect_url() == "http://[::1]:8080"
