"""How a serving process lives, the same for ``serve`` and ``authz``: start, then serve until SIGTERM or
SIGINT (drain, then exit) while SIGHUP reloads the contract."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger("frontdoor.gateway")


def run_until_stopped(
    loop: asyncio.AbstractEventLoop,
    start: Callable[[], Awaitable[None]],
    reload: Callable[[], object],
    drain: Callable[[], Awaitable[None]],
    cleanup: Callable[[], None] | None = None,
) -> int:
    """Run ``start``, then wait for a stop signal and ``drain``; ``loop`` is closed at the end."""
    stop = asyncio.Event()

    async def main() -> None:
        await start()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, reload)
        await stop.wait()
        log.info("draining")
        await drain()

    try:
        loop.run_until_complete(main())
    finally:
        if cleanup is not None:
            cleanup()
        loop.close()
    return 0
