"""Sealed values: encrypted and authenticated with AES-256-GCM, so a browser can hold its own session
without being able to read or change it.

The AES keys are derived with HKDF-SHA256 from the contract's ``cookie_keys`` secrets, each under the
purpose it seals for (the session, the sign-in in progress): a value sealed for one purpose never opens
as another. The first key seals; every key opens, so keys rotate without signing anyone out: put the
new key first, and drop the old one once the sessions it sealed have expired.

A sealed value is ``base64url(version | nonce | ciphertext+tag)``: one version byte, a random 96-bit
nonce per seal (NIST SP 800-38D 8.2.2; a key seals far fewer than 2^32 values between rotations here).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION: Final = b"\x01"
NONCE_BYTES: Final = 12
MIN_SECRET_BYTES: Final = 16  # a cookie key shorter than this is refused: it could be guessed


class SealingError(ValueError):
    """The keys cannot be used (none, or one too short); the message never quotes a key."""


def _derive(secret: bytes, purpose: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"frontdoor/v1 " + purpose)
    return AESGCM(hkdf.derive(secret))


class Sealer:
    """Seals and opens values for one purpose with the contract's cookie keys."""

    __slots__ = ("_keys", "_purpose")

    def __init__(self, secrets: Sequence[bytes], purpose: str) -> None:
        if not secrets:
            raise SealingError("no cookie key")
        for index, secret in enumerate(secrets):
            if len(secret) < MIN_SECRET_BYTES:
                raise SealingError(f"cookie key {index + 1} is shorter than {MIN_SECRET_BYTES} bytes")
        self._purpose = purpose.encode("ascii")
        self._keys = tuple(_derive(secret, self._purpose) for secret in secrets)

    def seal(self, plaintext: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        # the version and the purpose are authenticated too: neither can be swapped under the tag
        sealed = self._keys[0].encrypt(nonce, plaintext, VERSION + self._purpose)
        return base64.urlsafe_b64encode(VERSION + nonce + sealed).rstrip(b"=").decode("ascii")

    def open(self, token: str) -> bytes | None:
        """The plaintext, or None when the value was not sealed by one of the keys for this purpose
        (tampered, truncated, another key, another purpose, or not a sealed value at all)."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 1 + NONCE_BYTES + 16 or raw[:1] != VERSION:
            return None
        nonce, sealed = raw[1 : 1 + NONCE_BYTES], raw[1 + NONCE_BYTES :]
        for key in self._keys:
            try:
                return key.decrypt(nonce, sealed, VERSION + self._purpose)
            except InvalidTag:
                continue
        return None
