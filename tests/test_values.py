"""Typed scalar values: parsed once, refused with a message that says what was expected."""

from __future__ import annotations

import ipaddress

import pytest

from frontdoor.contract.values import (
    RoutePath,
    SecretRef,
    format_duration,
    format_size,
    parse_cidr,
    parse_duration,
    parse_host,
    parse_listen,
    parse_method,
    parse_route_path,
    parse_scope,
    parse_secret_ref,
    parse_size,
    parse_url,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1MiB", 1048576),
        ("16KiB", 16384),
        ("16Ki", 16384),
        ("512B", 512),
        ("1GiB", 1 << 30),
        ("2KB", 2000),
        ("1.5MiB", 1572864),
        (4096, 4096),
        ("0", 0),
        ("10 MiB", 10485760),
    ],
)
def test_sizes(text: object, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1XB", "MiB", "-1KiB", "1.3B", True, None, [1], "1 MiB extra"])
def test_bad_sizes(text: object) -> None:
    with pytest.raises(ValueError, match=r"size|bytes|negative"):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2s", 2.0), ("500ms", 0.5), ("1m", 60.0), ("1m30s", 90.0), ("1h", 3600.0), (3, 3.0), (0.25, 0.25), ("10", 10.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["2 s", "s", "1x", "", "1s2", False, "-1s", "1.s"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_formatting_round_trips() -> None:
    for text in ("1MiB", "16KiB", "512B", "3GiB"):
        assert format_size(parse_size(text)) == text
    for text in ("2s", "500ms", "1m"):
        assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("secret:shop-tls-cert", SecretRef("secret", "shop-tls-cert")),
        ("env:FRONTDOOR_ADMIN_TOKEN", SecretRef("env", "FRONTDOOR_ADMIN_TOKEN")),
        ("file:/etc/frontdoor/tls/shop.key", SecretRef("file", "/etc/frontdoor/tls/shop.key")),
    ],
)
def test_secret_references(text: str, ref: SecretRef) -> None:
    assert parse_secret_ref(text) == ref
    assert str(ref) == text


@pytest.mark.parametrize(
    "text", ["hunter2", "secret:", "secret:Has Space", "env:1BAD", "file:relative/path", "vault:x", 42]
)
def test_bad_secret_references(text: object) -> None:
    with pytest.raises(ValueError) as info:
        parse_secret_ref(text)
    # a literal that is not a reference is never echoed back: it may be the secret itself
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "host", "port", "loopback"),
    [
        ("0.0.0.0:8443", "0.0.0.0", 8443, False),
        ("127.0.0.1:8080", "127.0.0.1", 8080, True),
        ("[::1]:9901", "::1", 9901, True),
        ("[::]:443", "::", 443, False),
        ("localhost:80", "localhost", 80, True),
    ],
)
def test_listen(text: str, host: str, port: int, loopback: bool) -> None:
    address = parse_listen(text)
    assert (address.host, address.port, address.is_loopback) == (host, port, loopback)
    assert str(address) == text


@pytest.mark.parametrize(
    "text", ["8443", "0.0.0.0:0", "0.0.0.0:70000", "::1:80", "example.com:80", "[1.2.3.4]:80", "0.0.0.0:http"]
)
def test_bad_listen(text: str) -> None:
    with pytest.raises(ValueError):
        parse_listen(text)


def test_listen_overlap() -> None:
    assert parse_listen("0.0.0.0:8443").overlaps(parse_listen("127.0.0.1:8443"))
    assert not parse_listen("127.0.0.1:8443").overlaps(parse_listen("127.0.0.2:8443"))
    assert not parse_listen("0.0.0.0:8443").overlaps(parse_listen("0.0.0.0:8444"))


def test_cidr() -> None:
    assert parse_cidr("10.0.0.0/8") == ipaddress.ip_network("10.0.0.0/8")
    assert parse_cidr("192.0.2.7") == ipaddress.ip_network("192.0.2.7/32")
    with pytest.raises(ValueError, match=r"did you mean 10\.0\.0\.0/8"):
        parse_cidr("10.0.0.1/8")
    with pytest.raises(ValueError):
        parse_cidr("10.0.0.0/33")


def test_urls() -> None:
    url = parse_url("https://login.example.com/")
    assert (url.scheme, url.host, url.port, url.is_loopback) == ("https", "login.example.com", 443, False)
    assert parse_url("http://127.0.0.1:9400/keys").is_loopback
    for bad in ("login.example.com", "ftp://x/", "https://user:pw@x/", "http://x:99999/"):
        with pytest.raises(ValueError):
            parse_url(bad)


def test_methods_scopes_hosts() -> None:
    assert parse_method("get") == "GET"
    with pytest.raises(ValueError):
        parse_method("FETCH")
    assert parse_scope("orders:read") == "orders:read"
    for bad in ("orders read", 'a"b', "", "a\\b"):
        with pytest.raises(ValueError):
            parse_scope(bad)
    assert parse_host("Shop.Example.COM.") == "shop.example.com"
    assert parse_host("*.example.com") == "*.example.com"
    for bad in ("shop_example.com", "-a.com", "a..b", ""):
        with pytest.raises(ValueError):
            parse_host(bad)


def test_route_paths() -> None:
    assert parse_route_path("/orders") == RoutePath("/orders", exact=False)
    assert parse_route_path("=/orders") == RoutePath("/orders", exact=True)
    assert parse_route_path("/orders/") == RoutePath("/orders", exact=False)
    assert str(parse_route_path("=/payments/webhook")) == "=/payments/webhook"
    assert parse_route_path("/a%7Eb/%41") == RoutePath("/a~b/A", exact=False)
    for bad in ("orders", "/a b", "/a/../b", "/a//b", "/a%2Fb", "/a?x=1", "/a/%2E%2E/b", "/a/%2e", "/a%zz"):
        with pytest.raises(ValueError):
            parse_route_path(bad)
