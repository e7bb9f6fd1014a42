"""Path normalization before routing (RFC 3986 6.2.2), byte for byte, with no I/O."""

from __future__ import annotations

import pytest

from frontdoor.http.paths import PathError, normalize_path, strip_route_prefix


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("/", "/"),
        ("/orders/7", "/orders/7"),
        ("/a/./b", "/a/b"),
        ("/a/b/../c", "/a/c"),
        ("/a/b/..", "/a/"),
        ("/a/.", "/a/"),
        ("/%7Euser", "/~user"),
        ("/%41%42c", "/ABc"),
        ("/a%2e%2e/b", "/a../b"),
        ("/x/%2e%2e/y", "/y"),
        ("/a%20b", "/a%20b"),
        ("/a%3fb", "/a%3Fb"),
        ("/orders//7", "/orders//7"),
    ],
)
def test_normalize(raw: str, normalized: str) -> None:
    assert normalize_path(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "/..",
        "/a/../..",
        "/%2e%2e/etc/passwd",
        "/a%2Fb",
        "/a%2fb",
        "/a%5Cb",
        "/orders/7%00",
        "/a%0Ab",
        "/a%0d%0aX-Injected:%201",
        "/a%1F",
        "/a%7f",
        "/a%zz",
        "/a%4",
        "orders",
        "",
        "/a b",
        "/a\\b",
        "/\x00",
        "/é",
    ],
)
def test_refused(raw: str) -> None:
    with pytest.raises(PathError):
        normalize_path(raw)


def test_strip_route_prefix() -> None:
    assert strip_route_prefix("/orders/7", "/orders") == "/7"
    assert strip_route_prefix("/orders", "/orders") == "/"
    assert strip_route_prefix("/orders/7", "/") == "/orders/7"


@pytest.mark.parametrize("byte", [*range(0x20), 0x7F])
def test_every_encoded_control_byte_is_refused(byte: int) -> None:
    with pytest.raises(PathError, match="control character"):
        normalize_path(f"/orders/7%{byte:02X}")


def test_printable_encodings_next_to_control_ones_are_kept() -> None:
    assert normalize_path("/a%20b%7E%80") == "/a%20b~%80"
