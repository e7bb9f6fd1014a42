"""The one timer of a connection (frontdoor/deadline.py): it expires once the last deadline armed
passes, keeps its handle when a deadline moves later, and never expires once disarmed or released.
No assertion depends on how long anything took: each waits for the handle to have fired."""

from __future__ import annotations

import asyncio

from frontdoor.deadline import Deadline


async def _fired(deadline: Deadline) -> None:
    """Until the handle in place has fired (a disarmed deadline leaves none behind)."""
    while deadline.handle is not None:
        await asyncio.sleep(0.005)


def test_expires_after_the_last_deadline_and_keeps_its_handle_when_it_moves_later() -> None:
    async def run() -> list[str]:
        calls: list[str] = []
        deadline = Deadline(asyncio.get_running_loop(), lambda: calls.append("expired"))
        deadline.arm(0.02, 0.01)
        handle = deadline.handle
        deadline.arm(0.05, 0.01)  # later: the handle stays, and is re-armed when it fires early
        assert deadline.handle is handle
        while not calls:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.03)
        assert deadline.handle is None and not deadline.armed
        return calls

    assert asyncio.run(run()) == ["expired"]  # once


def test_an_earlier_deadline_replaces_the_handle() -> None:
    async def run() -> list[str]:
        calls: list[str] = []
        deadline = Deadline(asyncio.get_running_loop(), lambda: calls.append("expired"))
        deadline.arm(3600.0, 3600.0)
        handle = deadline.handle
        deadline.arm(0.01, 3600.0)
        assert deadline.handle is not handle and handle is not None and handle.cancelled()
        while not calls:
            await asyncio.sleep(0.005)
        return calls

    assert asyncio.run(run()) == ["expired"]


def test_disarmed_or_released_it_never_expires() -> None:
    async def run() -> list[str]:
        calls: list[str] = []
        disarmed = Deadline(asyncio.get_running_loop(), lambda: calls.append("disarmed"))
        disarmed.arm(0.01, 0.01)
        disarmed.disarm()
        released = Deadline(asyncio.get_running_loop(), lambda: calls.append("released"))
        released.arm(0.01, 0.01)
        released.release()
        assert released.handle is None and released.expired is None  # no cycle with its owner left
        await _fired(disarmed)
        released.arm(0.01, 0.01)  # armed after its owner is gone: fires for no one
        await _fired(released)
        return calls

    assert asyncio.run(run()) == []
