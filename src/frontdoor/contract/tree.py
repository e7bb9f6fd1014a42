"""Finding and reading a contract's files safely: symlinked folders followed, loops named, and
anything that is not a regular file (a FIFO, a device, a socket) refused without being opened.

Opening a FIFO blocks until a writer comes, and opening some devices has effects: so every path is
``stat``-ed first and only a regular file is opened, without blocking, and checked again once open
(the path may have been swapped in between).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from frontdoor.errors import Finding, Location

SUFFIXES = (".yaml", ".yml")
#: a contract has tens of folders; far more means a symlink leads out of it (to / or a home folder),
#: and reading on would take long and read what is not the contract
MAX_FOLDERS = 10_000


def _kind_of(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _refused(path: Path, mode: int, given: bool = False) -> Finding:
    fix = (
        "point check at the contract's folder or one of its files"
        if given
        else "replace it with a file, or rename it so that it does not end in .yaml or .yml"
    )
    return Finding(
        "contract-not-a-file",
        f"{_kind_of(mode)}, not a regular file: contract documents are read from plain files only, "
        f"so it was not opened; {fix}",
        Location(str(path), 1),
    )


@dataclass
class _Walk:
    files: list[Path] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    seen: dict[tuple[int, int], Path] = field(default_factory=dict)  # every folder read, by inode

    def folder(self, path: Path, ancestors: tuple[tuple[int, int], ...]) -> None:
        if len(self.seen) >= MAX_FOLDERS:
            if not any(f.rule == "contract-too-large" for f in self.findings):
                self.findings.append(
                    Finding(
                        "contract-too-large",
                        f"more than {MAX_FOLDERS} folders: does a symlink lead out of the contract (to / "
                        "or a home folder)? The rest was not read",
                        Location(str(path), 1),
                    )
                )
            return
        try:
            info = os.stat(path)
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            self.findings.append(
                Finding("contract-read", f"cannot read the folder: {exc.strerror}", Location(str(path), 1))
            )
            return
        identity = (info.st_dev, info.st_ino)
        if identity in ancestors:
            self.findings.append(
                Finding(
                    "contract-symlink-loop",
                    f"a symlink leads back to {self.seen[identity]}, which contains it: not followed "
                    "(its files are read once, from there); remove the link or point it elsewhere",
                    Location(str(path), 1),
                    severity="warning",
                )
            )
            return
        if identity in self.seen:
            self.findings.append(
                Finding(
                    "contract-symlink-twice",
                    f"the same folder as {self.seen[identity]}: its files are read once, from there",
                    Location(str(path), 1),
                    severity="note",
                )
            )
            return
        self.seen[identity] = path
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files and folders (.git, editors' swap files) are not the contract
            child = Path(path) / entry.name
            try:
                mode = os.stat(child).st_mode  # follows symlinks: a linked folder is a folder
            except OSError as exc:
                if entry.name.endswith(SUFFIXES) or entry.is_symlink():
                    self.findings.append(_unreadable(child, exc))
                continue
            if stat.S_ISDIR(mode):
                self.folder(child, (*ancestors, identity))
            elif entry.name.endswith(SUFFIXES):
                if stat.S_ISREG(mode):
                    self.files.append(child)
                else:
                    self.findings.append(_refused(child, mode))


def _unreadable(path: Path, exc: OSError) -> Finding:
    if os.path.islink(path) and not os.path.exists(path):
        message = "a symlink to nothing (its target does not exist)"
    else:
        message = f"cannot read: {exc.strerror or exc}"
    return Finding("contract-read", message, Location(str(path), 1))


def _missing_root(root: Path, exc: Exception) -> Finding:
    if isinstance(exc, FileNotFoundError) and not os.path.islink(root):
        return Finding("contract-read", f"{root}: no such file or directory")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    return Finding("contract-read", f"{str(root)[:200]}: cannot read: {reason}")


def scan_tree(root: Path) -> tuple[list[Path], list[Finding]]:
    """The contract's *.yaml / *.yml files under ``root`` (or ``root`` itself), in a stable order, and
    the findings about what was not read: loops, non-regular files, unreadable folders."""
    try:
        mode = os.stat(root).st_mode
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        return [], [_missing_root(root, exc)]
    if not stat.S_ISDIR(mode):
        return ([root], []) if stat.S_ISREG(mode) else ([], [_refused(root, mode, given=True)])
    walk = _Walk()
    walk.folder(root, ())
    return sorted(walk.files), walk.findings


def is_regular_file(path: Path) -> bool:
    """``path`` is a regular file; False, never an exception, for a name too long or otherwise bad."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_text(path: Path) -> str:
    """The text of a regular file; raises OSError (or UnicodeDecodeError) and never blocks on a FIFO
    that took the file's place after it was listed."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(0, "no longer a regular file")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read()
    finally:
        os.close(fd)
    return data.decode("utf-8")
