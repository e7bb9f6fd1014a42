"""``--workers N``: N processes serving the same listeners (SO_REUSEPORT spreads connections).

The parent only supervises: it forwards SIGTERM, SIGINT and SIGHUP to every worker and exits with
the worst exit status once all have stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from frontdoor.errors import FrontdoorError
from frontdoor.lifecycle import hold_signals

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def run_workers(count: int, work: Callable[[], int]) -> int:
    if count <= 1:
        hold_signals()
        return work()
    children: list[int] = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:  # a worker: its own event loop, its own sockets bound with SO_REUSEPORT
            # the parent's forwarding handlers are not the worker's: it holds signals until it serves
            # (a SIGTERM while it loads its plan must not kill it half-started), then acts on them
            hold_signals()
            code = 1
            try:
                code = work()
            except FrontdoorError as exc:
                print(f"frontdoor worker {os.getpid()}: {exc}", file=sys.stderr)
                code = 2
            except BaseException as exc:  # a worker must never vanish silently
                print(f"frontdoor worker {os.getpid()} failed: {exc!r}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children.append(pid)

    def forward(sig: int, _frame: FrameType | None) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, sig)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    worst = 0
    for child in children:
        while True:
            try:
                _, status = os.waitpid(child, 0)
                break
            except InterruptedError:
                continue
        worst = max(worst, os.waitstatus_to_exitcode(status) & 0xFF)
    return worst
