"""The gateway's HPACK encoder: what it writes, a standard decoder (the hpack library's) reads back."""

from __future__ import annotations

from hpack import Decoder

from frontdoor.http.hpackout import PlainEncoder

FIELDS = [
    (b":status", b"200"),  # in the static table whole
    (b":status", b"431"),  # its name only
    (b"content-type", b"application/json"),
    (b"x-request-id", b"c4874b3b835fd2478fb5564c9acfb6fe"),
    (b"x-long", b"v" * 300),  # a length past the 7-bit prefix
    (b"www-authenticate", b'Bearer realm="shop"'),  # a static name past the 4-bit prefix
]


def test_blocks_decode_to_the_same_fields() -> None:
    encoder, decoder = PlainEncoder(), Decoder()
    for _ in range(3):  # the decoder's table stays as it was: nothing is added to it
        assert decoder.decode(encoder.encode(FIELDS), raw=True) == FIELDS
    assert len(decoder.header_table.dynamic_entries) == 0


def test_the_empty_table_is_announced_first_and_after_a_settings_change() -> None:
    encoder = PlainEncoder()
    assert encoder.encode([(b":status", b"200")]) == b"\x20\x88"
    assert encoder.encode([(b":status", b"200")]) == b"\x88"
    encoder.header_table_size = 0
    decoder = Decoder()
    decoder.max_allowed_table_size = 0
    assert decoder.decode(encoder.encode(FIELDS), raw=True) == FIELDS
