"""What the timeout tests over real sockets share (test_body_timeouts.py, test_send_timeouts.py): an
upstream on raw sockets that behaves as each test needs, and the gateways they run, plain and on TLS
(HTTP/2), each checked for tracebacks when it stops."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import trustme

from .harness import ContractSpec, Gateway


class RawUpstream:
    """Accepts connections on a loopback port, each answered by ``answer`` in a thread of its own;
    ``cut`` is released by ``answer`` for every connection the gateway dropped on it."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.cut = threading.Semaphore(0)
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self.answer, args=(conn,), daemon=True).start()

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.listener.close()


def running_gateway(root: Path, spec: ContractSpec) -> Iterator[Gateway]:
    """A module fixture's body: the gateway of ``spec``, stopped after the module's tests, whose output
    must hold no traceback (every connection it cut off ended cleanly)."""
    running = Gateway(spec.write(root / "contract"), spec, root / "access.log")
    yield running
    running.stop()
    assert "Traceback" not in running.output()


def tls_files(ca: trustme.CA, root: Path) -> tuple[Path, Path]:
    """A certificate for shop.test and 127.0.0.1 from ``ca``, and its key, written in ``root``."""
    issued = ca.issue_cert("shop.test", "127.0.0.1")
    cert, key = root / "tls.crt", root / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    return cert, key
