"""A TLS connection's first protocol: once the handshake is done, the protocol the client and the
gateway agreed on (ALPN, RFC 7301) takes the transport: HTTP/2 (proxy/h2connection.py) or HTTP/1.1
(proxy/downstream.py). There is no cleartext HTTP/2 (h2c): a plain listener speaks HTTP/1.1 only.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from frontdoor.proxy.downstream import Downstream
from frontdoor.proxy.h2connection import ClientH2
from frontdoor.proxy.runtime import Listener

if TYPE_CHECKING:
    from frontdoor.proxy.server import Gateway


class AlpnSwitch(asyncio.Protocol):
    """A TLS connection's first protocol: hands the transport to the one the client chose by ALPN."""

    def __init__(self, gateway: Gateway, listener: Listener) -> None:
        self.gateway = gateway
        self.listener = listener

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tls = transport.get_extra_info("ssl_object")
        chosen = tls.selected_alpn_protocol() if tls is not None else None
        protocol: asyncio.Protocol
        if chosen == "h2":
            protocol = ClientH2(self.gateway, self.listener)
        else:
            protocol = Downstream(self.gateway, self.listener)
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
