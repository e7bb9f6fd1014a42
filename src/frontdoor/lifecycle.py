"""How a serving process lives, the same for ``serve`` and ``authz``: start, then serve until SIGTERM or
SIGINT (drain, then exit) while SIGHUP reloads the contract.

A signal that comes while the process is still starting (a worker loading its plan when the supervisor
is told to stop) is held, not acted on by the default action that would kill it mid-start: once serving
starts it takes effect (a stop drains nothing and exits 0; a reload reloads).

Below both processes (proxy/ and authz/ import it, it imports neither), with the event loop they run on."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable

log = logging.getLogger("frontdoor.gateway")

HELD = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_held: set[int] = set()
# Told once the process serves: a supervised worker tells its supervisor (proxy/workers.py), which
# thereby knows a worker that dies before this failed to start (and stops the gateway) rather than died
_on_serving: list[Callable[[], None]] = []


def when_serving(callback: Callable[[], None]) -> None:
    """Call ``callback`` once serving has started (after ``start`` in run_until_stopped)."""
    _on_serving.append(callback)


def hold_signals() -> None:
    """From now until serving starts, remember SIGTERM, SIGINT and SIGHUP instead of acting on them."""
    _held.clear()
    for sig in HELD:
        signal.signal(sig, _hold)


def _hold(sig: int, _frame: object) -> None:
    _held.add(sig)


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
        while _on_serving:
            _on_serving.pop(0)()
        held = set(_held)
        _held.clear()
        if signal.SIGTERM in held or signal.SIGINT in held:
            log.info("asked to stop while starting")
            stop.set()
        elif signal.SIGHUP in held:
            reload()  # the files may have changed after they were read
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


def install_event_loop() -> asyncio.AbstractEventLoop:
    """The loop a serving process runs on: uvloop's where it is installed, asyncio's otherwise."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency except on Windows
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()
