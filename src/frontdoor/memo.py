"""The one memo type of the request path: a plain dict (a hit costs a third of functools.lru_cache's)
bounded in entries AND in bytes, and emptied when either bound would be passed, so that clients sending
ever new keys (hosts, paths, field lines) can neither grow it nor fill it with a few large keys.

Emptying, rather than dropping the oldest entry, is deliberate: a flood of distinct keys is then as cheap
as a miss (deleting a dict's first entry again and again makes each deletion scan the holes left by the
previous ones: ten times the cost per insertion, measured), and the keys a gateway keeps seeing are back
after one miss each."""

from __future__ import annotations

from typing import Final, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# what one memo may hold in key and value bytes by default: enough for thousands of ordinary paths
DEFAULT_MAX_BYTES: Final = 1 << 20


def weight(item: object) -> int:
    """The bytes an entry's part holds that its count does not bound: a text's length, a tuple's parts'.
    Anything else (a number, a shared object) counts as nothing: the entry limit bounds those."""
    if isinstance(item, (str, bytes)):
        return len(item)
    if isinstance(item, tuple):
        return sum(weight(part) for part in item)
    return 0


class Memo(Generic[K, V]):
    """Answers of a pure function, bounded in entries and in the bytes of keys and values (``weight``).

    ``memo.get(key)`` answers a hit; ``memo.keep(key, value)`` stores an answer after a miss and returns
    it. An entry heavier than ``max_bytes`` alone is never kept.
    """

    __slots__ = ("_bytes", "_entries", "max_bytes", "max_entries")

    def __init__(self, max_entries: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._entries: dict[K, V] = {}
        self._bytes = 0
        self.max_entries = max_entries
        self.max_bytes = max_bytes

    def get(self, key: K) -> V | None:
        # a method, not the dict's bound get kept as an attribute: compiled (the build users run), a
        # native call and a direct dict lookup; calling a stored callable is a generic Python call
        return self._entries.get(key)

    def keep(self, key: K, value: V) -> V:
        """Keep ``value`` under ``key`` (emptying the memo first if it is full); returns ``value``."""
        size = weight(key) + weight(value)
        if size > self.max_bytes:
            return value
        entries = self._entries
        if len(entries) >= self.max_entries or self._bytes + size > self.max_bytes:
            entries.clear()
            self._bytes = 0
        self._bytes += size  # a key kept again counts twice: an overestimate, so still a bound
        entries[key] = value
        return value

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    @property
    def held_bytes(self) -> int:
        """The bytes of keys and values held now, as ``weight`` counts them."""
        return self._bytes

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0
