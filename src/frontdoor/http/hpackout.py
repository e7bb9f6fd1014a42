"""A small HPACK encoder (RFC 7541) for the gateway's responses, sans-IO.

The hpack library's encoder Huffman-codes every string and keeps a dynamic table whose linear search
and evictions it pays for on every field; a response's fields are mostly unique (the request id, the
trace context) or few, so for them it is the dearest part of answering a stream. This one uses no dynamic
table at all: a field in the static table is one index, a field whose name is there is that index and
the value as a literal, any other a literal name and value; literals are not Huffman-coded. Every
decoder reads that (it is the format's plainest form); the blocks are a little larger.

It keeps the interface the h2 library uses of its encoder: ``encode(headers)`` and a settable
``header_table_size``. The table it uses is empty, so it tells the peer so once (a dynamic table size
update to 0 at the start of the first block, and again after the peer changes its setting).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from hpack.table import HeaderTable

_STATIC: Final = HeaderTable.STATIC_TABLE
# (name, value) -> index, and name -> the first index with that name (indices start at 1)
_FULL: Final[dict[tuple[bytes, bytes], int]] = {}
_NAMES: Final[dict[bytes, int]] = {}
for _index, (_name, _value) in enumerate(_STATIC, start=1):
    _FULL.setdefault((_name, _value), _index)
    _NAMES.setdefault(_name, _index)


def _integer(value: int, prefix_bits: int, first: int) -> bytes:
    """RFC 7541 5.1: ``value`` with a ``prefix_bits`` prefix, ``first`` holding the high bits."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first | value,))
    out = bytearray((first | limit,))
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    return _integer(len(data), 7, 0) + data  # H bit 0: not Huffman-coded


class PlainEncoder:
    """Encodes header blocks without a dynamic table or Huffman coding."""

    __slots__ = ("_size_update", "_table_size")

    def __init__(self) -> None:
        self._table_size = 4096
        self._size_update = True  # announce the empty table at the start of the first block

    @property
    def header_table_size(self) -> int:
        return self._table_size

    @header_table_size.setter
    def header_table_size(self, value: int) -> None:
        self._table_size = value
        self._size_update = True

    def encode(self, headers: Iterable[tuple[bytes, bytes]], huffman: bool = False) -> bytes:
        parts: list[bytes] = []
        if self._size_update:
            self._size_update = False
            parts.append(b"\x20")  # dynamic table size update (001xxxxx) to 0
        for name, value in headers:
            index = _FULL.get((name, value))
            if index is not None:
                parts.append(_integer(index, 7, 0x80))  # indexed field
                continue
            index = _NAMES.get(name)
            if index is not None:
                parts.append(_integer(index, 4, 0x00) + _string(value))  # literal, indexed name
            else:
                parts.append(b"\x00" + _string(name) + _string(value))  # literal, literal name
        return b"".join(parts)
