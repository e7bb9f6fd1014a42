"""Signed-out sessions, shared by every process of a deployment (serve and authz, every worker, every
replica): a copy of a session cookie kept from before its sign-out is refused everywhere, not only by
the process that answered ``/_frontdoor/logout``.

Each session carries a random id in its sealed cookie (session.py). Signing out records that id with the
time the session would have ended anyway (its start plus the absolute ``ttl``), so the record is needed
only until then, and dropped after. The records live where the kill switch's stops live
(policy/killswitch.py), per Edge and environment:

- ``STATE_DIR/EDGE/ENV/signed-out`` on one host (FileSignedOut): one line per sign-out, ``ID UNTIL``,
  appended under an exclusive lock; a reader reads only what was appended since it last looked; a
  writer that finds the file mostly expired rewrites it with the live lines (a new file, read whole);
- the Edge's Redis when ``rate_limits.store: redis`` (access/signedout_redis.py).

The request path never waits on the store: it asks this process's copy (a dict), and at most every
POLL_S the store is asked to bring it up to date (a stat here, a background read for Redis). So a
sign-out reaches every other process within POLL_S plus one read. A store that cannot be read keeps the
sign-outs it knew; the failure is logged once each way and counted
(``frontdoor_signout_store_failures_total``).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections import Counter
from pathlib import Path
from typing import Final

from frontdoor.policy.stops import POLL_S

log = logging.getLogger("frontdoor.access")

MAX_SIGNED_OUT: Final = 100_000  # sign-outs remembered per process; the oldest go first beyond
FILE_NAME: Final = "signed-out"
#: a rewrite drops the expired lines once the file has grown this much past what was live at the last one
_REWRITE_BYTES: Final = 64 * 1024

#: (store, operation) -> failures, for ``frontdoor_signout_store_failures_total``; for the life of the process
FAILURES: Counter[tuple[str, str]] = Counter()


class SignedOut:
    """This process's copy of the signed-out sessions (id -> when the session ends anyway, wall clock).
    Kept in memory only: a process without a state directory or Redis shares it with nobody."""

    kind = "memory"

    def __init__(self) -> None:
        self.ids: dict[str, float] = {}
        self.next_check = 0.0  # monotonic time of the next refresh
        self.healthy = True
        if self.kind != "memory":
            # a shared store's failure counters are exported at zero from the start, so a rate() or an
            # alert on them has a series to work on before the first failure (Prometheus practice)
            for operation in ("read", "write"):
                FAILURES[self.kind, operation] += 0

    def __contains__(self, sid: object) -> bool:
        """Whether ``sid`` was signed out; refreshes the copy when POLL_S has passed (never waits)."""
        now = time.monotonic()
        if now >= self.next_check:
            self.next_check = now + POLL_S
            self.refresh()
        return sid in self.ids

    def refresh(self) -> None:
        """Bring ``ids`` up to date with the other processes' sign-outs; never blocks on the network."""

    async def load(self) -> None:
        """Read the store once, waiting for the answer (tests, and a process before it is ready)."""
        self.refresh()

    async def sign_out(self, sid: str, until: float, now: float) -> None:
        """Record a sign-out here at once, and in the shared store for the other processes."""
        self.remember(sid, until, now)

    def remember(self, sid: str, until: float, now: float) -> None:
        ids = self.ids
        if len(ids) >= MAX_SIGNED_OUT:
            ids = self.ids = {k: t for k, t in ids.items() if t > now}
            while len(ids) >= MAX_SIGNED_OUT:  # still full: the oldest sign-outs go first
                del ids[next(iter(ids))]
        ids[sid] = max(until, ids.get(sid, 0.0))

    def describe(self) -> str:
        return "this process's memory"

    def failed(self, operation: str, error: BaseException | str) -> None:
        FAILURES[self.kind, operation] += 1
        if self.healthy:
            self.healthy = False
            what = error if isinstance(error, str) else type(error).__name__
            log.warning(
                "the signed-out sessions in %s cannot be %s (%s): sign-outs elsewhere are not seen "
                "until it answers again",
                self.describe(),
                "read" if operation == "read" else "written",
                what,
            )

    def succeeded(self) -> None:
        if not self.healthy:
            self.healthy = True
            log.warning("the signed-out sessions in %s can be used again", self.describe())


def parse_line(line: bytes) -> tuple[str, float] | None:
    """``ID UNTIL`` as written by FileSignedOut (and kept by the Redis store); None for anything else."""
    sid, _, until = line.strip().partition(b" ")
    if not sid or not until:
        return None
    try:
        return sid.decode("ascii"), float(until)
    except (UnicodeDecodeError, ValueError):
        return None


class FileSignedOut(SignedOut):
    """``DIRECTORY/signed-out``, shared by every process on this host that is given the directory."""

    kind = "file"

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.path = directory / FILE_NAME
        self.lock = directory / f"{FILE_NAME}.lock"
        self._file: tuple[int, int] | None = None  # (inode, bytes read) of the file as last read
        self._rewrite_at = _REWRITE_BYTES  # the size past which a writer drops the expired lines
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.failed("write", exc.strerror or str(exc))
        self.refresh()

    def describe(self) -> str:
        return str(self.path)

    def refresh(self) -> None:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return
        except OSError as exc:
            self.failed("read", exc.strerror or str(exc))
            return
        known = self._file
        if known is not None and known == (info.st_ino, info.st_size):
            return
        self._read()

    def _read(self) -> None:
        """What was appended since the last read; the whole file when it was rewritten meanwhile (the
        sign-outs already known stay: a rewrite only drops expired ones)."""
        try:
            with open(self.path, "rb") as file:
                inode = os.fstat(file.fileno()).st_ino
                start = self._file[1] if self._file is not None and self._file[0] == inode else 0
                file.seek(start)
                data = file.read()
        except FileNotFoundError:
            return
        except OSError as exc:
            self.failed("read", exc.strerror or str(exc))
            return
        complete = data.rfind(b"\n") + 1  # a line being appended right now is read next time
        now = time.time()
        for line in data[:complete].splitlines():
            entry = parse_line(line)
            if entry is not None and entry[1] > now:
                self.remember(entry[0], entry[1], now)
        self._file = (inode, start + complete)
        self.succeeded()

    async def sign_out(self, sid: str, until: float, now: float) -> None:
        self.remember(sid, until, now)
        line = f"{sid} {until:.3f}\n".encode("ascii")
        try:
            with open(self.lock, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                with open(self.path, "ab") as file:
                    file.write(line)
                    size = file.tell()
                if size > self._rewrite_at:
                    self._rewrite(now)
        except OSError as exc:
            self.failed("write", exc.strerror or str(exc))
            return
        self.succeeded()

    def _rewrite(self, now: float) -> None:
        """The file with its expired lines dropped (under the writers' lock): a new file, which every
        reader notices by its inode and reads whole."""
        kept = []
        with open(self.path, "rb") as file:
            for line in file:
                entry = parse_line(line)
                if entry is not None and entry[1] > now:
                    kept.append(line if line.endswith(b"\n") else line + b"\n")
        data = b"".join(kept)
        temporary = self.path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(data)
            os.replace(temporary, self.path)
        finally:
            with contextlib.suppress(OSError):
                temporary.unlink()
        self._rewrite_at = max(_REWRITE_BYTES, 2 * len(data))
