"""The upstream keep-alive pool never keeps a connection that is not reading."""

from __future__ import annotations

import asyncio
import ssl

from frontdoor.policy.balancing import Endpoint
from frontdoor.proxy.failures import Failure
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


def test_a_connection_lost_before_it_is_handed_out_is_a_failed_connect() -> None:
    # With TLS 1.3 an upstream that wants a client certificate refuses it only after the gateway's side
    # of the handshake is done: the connection can be lost before the pool hands it to the request.
    # Handed out anyway, the request waited on it for the upstream timeout (a 504); it is a 502.
    async def scenario(lost_with: Exception | None) -> tuple[UpstreamConnection | None, object]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        pool = Pool(Endpoint("127.0.0.1", port, 1), 5.0, loop)
        made = await pool._connect()
        made.connection_lost(lost_with)  # what asyncio reports when the peer's alert or close arrives
        task: asyncio.Future[UpstreamConnection] = loop.create_future()
        task.set_result(made)
        answers: list[tuple[UpstreamConnection | None, object]] = []
        pool._connected(task, lambda conn, failure: answers.append((conn, failure)))  # type: ignore[arg-type]
        made.abort()
        server.close()
        await server.wait_closed()
        return answers[0]

    assert asyncio.run(scenario(ssl.SSLError(1, "tlsv13 alert certificate required"))) == (
        None,
        Failure.UPSTREAM_TLS,
    )
    assert asyncio.run(scenario(None)) == (None, Failure.CONNECT_FAILED)
