"""The upstream keep-alive pool never keeps a connection that is not reading."""

from __future__ import annotations

import asyncio

from frontdoor.policy.balancing import Endpoint
from frontdoor.proxy.upstream import Pool, UpstreamConnection


def test_a_connection_paused_by_its_client_is_released_reading() -> None:
    # The client's socket filled while the last bytes of the response were written: the client paused
    # the upstream's reading, then the exchange ended and the connection went back to the pool. Its
    # next response must be read (it used to sit unread until the upstream timeout: a 504).
    async def scenario() -> bool:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        pool = Pool(Endpoint("127.0.0.1", port, 1), 5.0, loop)
        done: asyncio.Future[UpstreamConnection | None] = loop.create_future()

        def connected(conn: UpstreamConnection | None, failure: object) -> None:
            done.set_result(conn)

        pool.acquire(connected)
        conn = await done
        assert conn is not None and conn.transport is not None
        conn.pause_reading()
        assert not conn.transport.is_reading()
        pool.release(conn)
        reading = conn.transport.is_reading() and pool.take_idle() is conn
        conn.abort()
        server.close()
        await server.wait_closed()
        return reading

    assert asyncio.run(scenario())
