"""One answer to "is this address in these networks", for serve's trusted proxies and authz's trusted
peers alike: an IPv4 peer seen by a dual-stack listener (``::ffff:a.b.c.d``) is judged as IPv4."""

from __future__ import annotations

import ipaddress

from frontdoor.networks import within

PRIVATE = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("fd00::/8"))


def test_an_address_in_a_network_is_within_it() -> None:
    assert within("10.1.2.3", PRIVATE) and within("fd00::1", PRIVATE)
    assert not within("192.0.2.1", PRIVATE) and not within("2001:db8::1", PRIVATE)


def test_an_ipv4_mapped_peer_is_judged_as_its_ipv4_address() -> None:
    assert within("::ffff:10.1.2.3", PRIVATE)
    assert not within("::ffff:192.0.2.1", PRIVATE)


def test_no_networks_and_text_that_is_no_address_are_never_within() -> None:
    assert not within("10.1.2.3", ())
    assert not within("nonsense", PRIVATE) and not within("", PRIVATE) and not within("10.1.2.3/8", PRIVATE)


def test_a_forwarded_hop_written_ipv4_mapped_is_a_trusted_proxy() -> None:
    """X-Forwarded-For written by a dual-stack proxy (``::ffff:10.0.0.7``) is judged as the IPv4 address
    it carries: the client is the hop before it, as with ``10.0.0.7``."""
    from .test_protection_logic import admission

    for proxy in ("10.0.0.7", "::ffff:10.0.0.7"):
        assert (
            admission(0.0, peer="10.0.0.5", forwarded=f"203.0.113.9, {proxy}").client_address()
            == "203.0.113.9"
        )
    assert admission(0.0, peer="::ffff:10.0.0.5", forwarded="203.0.113.9").client_address() == "203.0.113.9"
