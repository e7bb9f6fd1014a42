"""Key-exchange groups for a server context: OpenSSL's ``SSL_CTX_set1_groups_list``, which Python's ssl
lacks (Python 3.11 offers ``set_ecdh_curve``, one curve, and no X25519; 3.13 adds no group list either).

The call goes through ctypes to the same libssl the ``_ssl`` module is linked with, on the ``SSL_CTX``
pointer that CPython keeps right after the object header of an ``ssl.SSLContext``. That pointer is
trusted only after OpenSSL, asked through it, reports the options Python reports for the context; if
anything does not fit (another Python, another layout, a libssl without the call), the context falls
back to ``set_ecdh_curve("prime256v1")``: P-256 alone, still inside the policy, and a warning says so.
"""

from __future__ import annotations

import ctypes
import logging
import ssl
import sys
from functools import cache
from typing import Any

log = logging.getLogger("frontdoor.tls")
_SSL_CTRL_SET_GROUPS_LIST = 92  # ssl.h: SSL_CTX_set1_groups_list(ctx, s) is SSL_CTX_ctrl(ctx, 92, 0, s)


@cache
def _libssl() -> Any | None:
    if sys.implementation.name != "cpython":
        return None
    try:
        import _ssl

        library = ctypes.CDLL(_ssl.__file__)  # dlsym on it also finds the libssl it was linked with
        ctrl = library.SSL_CTX_ctrl
        options = library.SSL_CTX_get_options
    except (AttributeError, OSError):
        return None
    ctrl.restype = ctypes.c_long
    ctrl.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_char_p]
    options.restype = ctypes.c_uint64
    options.argtypes = [ctypes.c_void_p]
    return library


def _ssl_ctx(context: ssl.SSLContext, library: Any) -> int | None:
    """The context's SSL_CTX pointer, if OpenSSL confirms it is one."""
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    if not pointer:
        return None
    # the options differ between any two contexts of this process only if changed: flip one and compare
    before = context.options
    context.options = before ^ ssl.OP_NO_TICKET
    try:
        if int(library.SSL_CTX_get_options(pointer)) != int(context.options):
            return None
    finally:
        context.options = before
    return int(pointer)


def set_groups(context: ssl.SSLContext, groups: str) -> bool:
    """Limit ``context`` to the OpenSSL group list ``groups`` ("X25519:P-256:P-384"). True if set; False
    when only the fallback (P-256 alone) could be set."""
    library = _libssl()
    if library is not None:
        pointer = _ssl_ctx(context, library)
        if (
            pointer is not None
            and library.SSL_CTX_ctrl(pointer, _SSL_CTRL_SET_GROUPS_LIST, 0, groups.encode()) == 1
        ):
            return True
    log.warning("cannot set the TLS groups %s here; offering P-256 alone", groups)
    context.set_ecdh_curve("prime256v1")
    return False
