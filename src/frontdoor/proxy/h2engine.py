"""The h2 library set up as the engine of the gateway's HTTP/2 client connections (proxy/h2connection.py):
the settings the gateway advertises, its receive windows, and header blocks bounded as they arrive.
"""

from __future__ import annotations

from typing import Final

from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.settings import SettingCodes, Settings

from frontdoor.contract.models import Protection
from frontdoor.http.hpackout import PlainEncoder
from frontdoor.proxy.h2guard import BoundedFrames

#: the receive window of a stream (the most request body a client may send ahead of the upstream) and
#: of the connection (given back as soon as it arrives: the streams' windows are what bound memory)
STREAM_WINDOW: Final = 256 * 1024
CONNECTION_WINDOW: Final = 16 * 1024 * 1024
_DEFAULT_WINDOW: Final = 65535


def server_engine(protection: Protection) -> H2Connection:
    """A server-side connection of the h2 library, with the Edge's header limit and stream budget."""
    max_header_bytes = protection.max_header_bytes
    config = H2Configuration(
        client_side=False,
        header_encoding=None,
        # the response fields are the gateway's own, lower-cased and checked (http/h2head.py)
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        # request heads are checked by http/h2head.py, so that a malformed one resets its stream (RFC
        # 9113 8.1.1) instead of the library's connection error
        validate_inbound_headers=False,
        normalize_inbound_headers=False,
    )
    conn = H2Connection(config)
    conn.encoder = PlainEncoder()  # type: ignore[assignment]  # the library's interface (http/hpackout.py)
    # Header blocks: up to twice max_header_bytes as received, and four times decoded (an HPACK
    # bomb is stopped as it inflates); a head between max_header_bytes and those bounds is answered
    # 431 by http/h2head.py, as HTTP/1.1 answers it.
    conn.incoming_buffer = BoundedFrames(2 * max_header_bytes + 1024)
    conn.decoder.max_header_list_size = 4 * max_header_bytes
    conn.local_settings = Settings(
        client=False,
        initial_values={
            SettingCodes.MAX_CONCURRENT_STREAMS: protection.max_concurrent_streams,
            SettingCodes.MAX_HEADER_LIST_SIZE: 2 * max_header_bytes,
            SettingCodes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
        },
    )
    return conn


def start(conn: H2Connection) -> None:
    """The server's preface (its SETTINGS) queued, and the connection's window opened to its size."""
    conn.initiate_connection()
    conn.increment_flow_control_window(CONNECTION_WINDOW - _DEFAULT_WINDOW)
