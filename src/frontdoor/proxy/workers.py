"""``--workers N``: N processes serving the same listeners (SO_REUSEPORT spreads connections), and the
parent that supervises them.

The parent serves nothing. It forwards SIGTERM, SIGINT and SIGHUP to every worker, and replaces a worker
that exits or is killed (SIGKILL included, e.g. by the kernel's OOM killer) while the gateway runs: at
once after a first death (0.1 s), then with a delay that doubles up to 10 s while replacements keep dying
young, so a worker that crashes on every start costs little CPU and fills no log. A worker that fails
before it ever served when the gateway starts (its port taken, its contract unreadable) is a
configuration error: the whole gateway stops with exit status 2 rather than retrying it forever.

Each worker tells the parent through a pipe when it serves (lifecycle.when_serving): that is what tells
"failed at start" from "died". The parent learns of a death through SIGCHLD, which wakes its select()
through signal.set_wakeup_fd, so it reacts within the loop's turn, not at a polling interval.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from frontdoor.errors import FrontdoorError
from frontdoor.lifecycle import hold_signals, when_serving

log = logging.getLogger("frontdoor.supervisor")

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
HANDLED = (*FORWARDED, signal.SIGCHLD)
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 10.0
# A worker that served this long before it died was healthy: its replacement starts at FIRST_DELAY_S again.
STABLE_S = 30.0
START_FAILED = 2  # the exit status of a gateway whose worker could not start (as for a bad contract)


@dataclass
class Slot:
    """One of the N places a worker fills; its worker changes when one dies and is replaced."""

    number: int
    pid: int = 0
    ready: int = -1  # the read end of the worker's "serving" pipe, -1 once read or closed
    serving: bool = False
    started: float = 0.0
    replacement: bool = False  # filled after a death: a start failure is then retried, not fatal
    delay: float = FIRST_DELAY_S  # the wait before the next replacement
    due: float | None = None  # when the next replacement starts, None when none is owed


def run_workers(count: int, work: Callable[[], int]) -> int:
    if count <= 1:
        hold_signals()
        return work()
    return Supervisor(count, work).run()


class Supervisor:
    def __init__(self, count: int, work: Callable[[], int]) -> None:
        self.work = work
        self.slots = [Slot(number) for number in range(1, count + 1)]
        self.stopping = False
        self.start_failed = False
        self.worst = 0
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)

    # --- the parent's loop ---------------------------------------------------------------------------

    def run(self) -> int:
        previous = signal.set_wakeup_fd(self.wake_write, warn_on_full_buffer=False)
        for sig in HANDLED:
            signal.signal(sig, self._on_signal)
        try:
            for slot in self.slots:
                self._spawn(slot)
            while self._alive() or (not self.stopping and self._owed()):
                self._wait(self._timeout())
                self._reap()
                self._replace_due()
        finally:
            signal.set_wakeup_fd(previous)
            for sig in HANDLED:
                signal.signal(sig, signal.SIG_DFL)
            os.close(self.wake_read)
            os.close(self.wake_write)
        return START_FAILED if self.start_failed else self.worst

    def _on_signal(self, sig: int, _frame: FrameType | None) -> None:
        if sig == signal.SIGCHLD:
            return  # the wakeup fd woke the loop; _reap does the work
        if sig in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        self._signal_all(sig)

    def _signal_all(self, sig: int) -> None:
        for slot in self.slots:
            if slot.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.pid, sig)

    def _alive(self) -> bool:
        return any(slot.pid for slot in self.slots)

    def _owed(self) -> bool:
        return any(slot.due is not None for slot in self.slots)

    def _timeout(self) -> float | None:
        due = [slot.due for slot in self.slots if slot.due is not None]
        if self.stopping or not due:
            return None
        return max(0.0, min(due) - time.monotonic())

    def _wait(self, timeout: float | None) -> None:
        watched = [self.wake_read, *(slot.ready for slot in self.slots if slot.ready >= 0)]
        try:
            readable, _, _ = select.select(watched, [], [], timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries select; kept for safety
            return
        if self.wake_read in readable:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.wake_read, 512):
                    pass
        for slot in self.slots:
            if slot.ready >= 0 and slot.ready in readable:
                self._read_ready(slot)

    def _read_ready(self, slot: Slot) -> None:
        """The worker wrote that it serves, or closed the pipe by exiting (then _reap reports it)."""
        try:
            said = os.read(slot.ready, 1)
        except BlockingIOError:
            return
        os.close(slot.ready)
        slot.ready = -1
        if said:
            slot.serving = True
            log.info(
                "worker %d (pid %d) serving%s", slot.number, slot.pid, " (replacement)" * slot.replacement
            )

    # --- deaths and replacements ---------------------------------------------------------------------

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            slot = next((s for s in self.slots if s.pid == pid), None)
            if slot is not None:
                self._died(slot, status)

    def _died(self, slot: Slot, status: int) -> None:
        if slot.ready >= 0:  # a worker may say "serving" and die before the parent read it
            self._read_ready(slot)
        if slot.ready >= 0:
            os.close(slot.ready)
            slot.ready = -1
        code = os.waitstatus_to_exitcode(status)
        pid, slot.pid = slot.pid, 0
        if self.stopping:
            self.worst = max(self.worst, code & 0xFF)
            return
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with status {code}"
        if not slot.serving and not slot.replacement:
            log.error(
                "worker %d (pid %d) %s before it served: stopping the gateway (exit status %d)",
                slot.number,
                pid,
                how,
                START_FAILED,
            )
            self.start_failed = self.stopping = True
            self._signal_all(signal.SIGTERM)
            return
        lived = time.monotonic() - slot.started
        if slot.serving and lived >= STABLE_S:
            slot.delay = FIRST_DELAY_S
        slot.due = time.monotonic() + slot.delay
        log.warning(
            "worker %d (pid %d) %s %s: replacing it in %.1f s",
            slot.number,
            pid,
            how,
            "while serving" if slot.serving else "while starting",
            slot.delay,
        )
        slot.delay = min(slot.delay * 2, MAX_DELAY_S)
        slot.replacement = True

    def _replace_due(self) -> None:
        if self.stopping:
            return
        now = time.monotonic()
        for slot in self.slots:
            if slot.due is not None and slot.due <= now:
                slot.due = None
                self._spawn(slot)

    # --- a worker ------------------------------------------------------------------------------------

    def _spawn(self, slot: Slot) -> None:
        ready_read, ready_write = os.pipe()
        # no signal may reach the child before it has dropped the parent's handlers
        signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED)
        try:
            pid = os.fork()
            if pid == 0:
                os.close(ready_read)
                self._become_worker(ready_write)
            os.close(ready_write)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        os.set_blocking(ready_read, False)
        slot.pid, slot.ready, slot.serving, slot.started = pid, ready_read, False, time.monotonic()

    def _become_worker(self, ready: int) -> None:
        """In the child: its own event loop, its own sockets bound with SO_REUSEPORT; never returns."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in (self.wake_read, self.wake_write, *(s.ready for s in self.slots if s.ready >= 0)):
            with contextlib.suppress(OSError):
                os.close(fd)
        # the parent's forwarding handlers are not the worker's: it holds signals until it serves
        # (a SIGTERM while it loads its plan must not kill it half-started), then acts on them
        hold_signals()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        when_serving(lambda: _tell_serving(ready))
        code = 1
        try:
            code = self.work()
        except FrontdoorError as exc:
            print(f"frontdoor worker {os.getpid()}: {exc}", file=sys.stderr)
            code = 2
        except BaseException as exc:  # a worker must never vanish silently
            print(f"frontdoor worker {os.getpid()} failed: {exc!r}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)


def _tell_serving(ready: int) -> None:
    with contextlib.suppress(OSError):  # a parent that is gone has nothing to hear
        os.write(ready, b"1")
        os.close(ready)
