"""A serving process's signals: held while it starts, acted on once it serves."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest

from frontdoor.lifecycle import HELD, hold_signals, run_until_stopped


@pytest.fixture
def saved_handlers() -> Iterator[None]:
    saved = {sig: signal.getsignal(sig) for sig in HELD}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


def serve(sent_while_starting: list[int]) -> tuple[int, list[str]]:
    """Run a process's life in this one: the signals arrive during ``start``."""
    events: list[str] = []
    loop = asyncio.new_event_loop()

    async def start() -> None:
        for sig in sent_while_starting:
            os.kill(os.getpid(), sig)
        await asyncio.sleep(0.05)  # the signals are delivered while starting
        events.append("started")

        def stop_the_test() -> None:  # only if what was sent while starting did not stop it already
            events.append("stopped by the test")
            os.kill(os.getpid(), signal.SIGTERM)

        loop.call_later(0.5, stop_the_test)

    async def drain() -> None:
        events.append("drained")

    hold_signals()
    code = run_until_stopped(loop, start, lambda: events.append("reloaded"), drain)
    return code, events


def test_a_stop_while_starting_stops_cleanly_once_started(saved_handlers: None) -> None:
    assert serve([signal.SIGTERM]) == (0, ["started", "drained"])
    assert serve([signal.SIGINT]) == (0, ["started", "drained"])


def test_a_reload_while_starting_reloads_once_started(saved_handlers: None) -> None:
    assert serve([signal.SIGHUP]) == (0, ["started", "reloaded", "stopped by the test", "drained"])
