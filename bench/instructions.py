"""The gateway's CPU instructions per proxied request, counted by valgrind's callgrind: a measure that a
busy machine does not move, unlike requests/s or CPU seconds.

``frontdoor serve`` (the compiled build by default) runs under ``valgrind --tool=callgrind`` with the
contract of bench/gateway.py (access log, metrics and trace propagation on). One loopback client sends
requests one after another on a keep-alive connection to its public route; a small upstream in this
process answers each with a fixed 200. Only what the two connections' bytes set off is counted (their
``data_received`` and everything it calls: parsing, routing, the stages, forwarding, the log line), not
the work done once a second (metrics snapshot, log flush), whose count depends on how long a run took
on the machine. So it measures the compiled build only (the pure-Python one has no such functions).
The gateway is run twice, with the same warm-up and then either no more requests or ``--requests``
more; the difference of the two runs' totals, divided by ``--requests``, is what one request costs once
warm. Hash seeds are fixed, so two runs of the same build agree to a fraction of a percent.

    .venv/bin/python -m bench.instructions                                   # .venv-compiled's build
    .venv/bin/python -m bench.instructions --frontdoor /other/tree/.venv-compiled/bin/frontdoor
    .venv/bin/python -m bench.instructions --requests 4000 --json out.json
    .venv/bin/python -m bench.instructions --route token                      # the route needing a token
    .venv/bin/python -m bench.instructions --keep /tmp/cg   # then: callgrind_annotate --inclusive=yes
                                                            # /tmp/cg/callgrind.2000.out (per function)

valgrind is installed with apt-get when missing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.gateway import TOKEN_PATH, SigningKey, free_port, identity_of, write_contract

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FRONTDOOR = ROOT / ".venv-compiled" / "bin" / "frontdoor"
BODY = b"x" * 48
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nServer: bench\r\nContent-Type: text/plain\r\nContent-Length: 48\r\n"
    b"Connection: keep-alive\r\n\r\n" + BODY
)
# the compiled protocols' data_received (mypyc's wrapper, which the event loop calls)
TOGGLE = "CPyPy_*___data_received"
START_TIMEOUT_S = 600.0  # importing everything under valgrind on a busy machine takes a while


def ensure_valgrind() -> str:
    found = shutil.which("valgrind")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-q", "valgrind"], check=True, env=env, timeout=600)
    return shutil.which("valgrind") or "valgrind"


class Upstream:
    """A fixed 200 for every request head, on as many keep-alive connections as the gateway opens."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _serve(conn: socket.socket) -> None:
        buffered = b""
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buffered += data
                while b"\r\n\r\n" in buffered:  # the bench's requests have no body
                    _, buffered = buffered.split(b"\r\n\r\n", 1)
                    conn.sendall(RESPONSE)

    def close(self) -> None:
        self.server.close()


class Jwks:
    """The token route's provider: a SigningKey whose JWKS this process serves over HTTP (a thread)."""

    def __init__(self) -> None:
        self.signing = SigningKey()
        body = self.signing.jwks.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.issuer = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def read_response(sock: socket.socket) -> None:
    """One response of the upstream's shape, passed through the gateway (it adds fields, not a body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the gateway closed the connection")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected response: {head[:200]!r}")
    length = int(re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the gateway closed the connection mid-body")
        body += chunk


def connect(port: int, process: subprocess.Popen[bytes], log: Path) -> socket.socket:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            return socket.create_connection(("127.0.0.1", port), timeout=120)
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the gateway did not start listening")


@contextlib.contextmanager
def gateway_under_callgrind(
    valgrind: str, frontdoor: Path, contract: Path, work: Path, name: str, toggle: str | None
) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path]]:
    """``frontdoor serve`` of the build of ``frontdoor`` under callgrind, hash seeds fixed: yields the
    process, its log and the callgrind file (``work``/callgrind.NAME.out), and stops it cleanly (SIGTERM,
    so callgrind writes its totals) when the block ends; killed if it will not stop."""
    out = work / f"callgrind.{name}.out"
    log = work / f"gateway.{name}.log"
    argv = [valgrind, "--tool=callgrind"]
    if toggle is not None:
        # only what the toggled functions (and all they call) do: the once-a-second work (metrics, log
        # flushes) depends on how long the run took
        argv += ["--collect-atstart=no", f"--toggle-collect={toggle}"]
    argv += [f"--callgrind-out-file={out}", str(frontdoor.parent / "python"), "-m", "frontdoor"]
    argv += ["serve", str(contract), "--env", "bench", "--access-log", str(work / "access.log")]
    argv += ["--health-interval", "3600", "--state-dir", str(work / "state")]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    try:
        yield process, log, out
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=START_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def callgrind_total(out: Path) -> int:
    """The instructions a callgrind file counted in all."""
    found = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(errors="replace"), re.MULTILINE)
    if found is None:
        raise RuntimeError(f"no totals in {out}")
    return int(found.group(1))


def run(
    valgrind: str,
    frontdoor: Path,
    contract: Path,
    port: int,
    warmup: int,
    requests: int,
    work: Path,
    request: bytes,
) -> int:
    """Total instructions of one gateway run serving ``warmup + requests`` requests, counted only in
    what the client's and the upstream's bytes set off (the connections' data_received)."""
    with gateway_under_callgrind(valgrind, frontdoor, contract, work, str(requests), TOGGLE) as started:
        process, log, out = started
        with connect(port, process, log) as sock:
            for _ in range(warmup + requests):
                sock.sendall(request)
                read_response(sock)
    return callgrind_total(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frontdoor", type=Path, default=DEFAULT_FRONTDOOR, help="the build's frontdoor script"
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests counted (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument(
        "--route", choices=("public", "token"), default="public", help="the public route, or the token one"
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument(
        "--keep", type=Path, help="copy the two runs' callgrind files here (for callgrind_annotate: where)"
    )
    args = parser.parse_args(argv)
    valgrind = ensure_valgrind()
    upstream = Upstream()
    jwks = Jwks() if args.route == "token" else None
    try:
        with tempfile.TemporaryDirectory(prefix="frontdoor-instr-") as tmp:
            work = Path(tmp)
            port = free_port()
            identity = identity_of(jwks.issuer) if jwks is not None else "{}"
            contract = write_contract(work / "contract", port, free_port(), upstream.port, identity)
            path, extra = "/bench/items", ""  # the path of the counts in docs/gateway.md
            if jwks is not None:
                path, extra = TOKEN_PATH, f"Authorization: Bearer {jwks.signing.token(jwks.issuer)}\r\n"
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\nAccept: */*\r\n"
                f"{extra}\r\n"
            ).encode()
            # valgrind runs the gateway tens of times slower, on a machine that may be busy: timeouts
            # that no request of a run may reach (one 504 would be a different request path)
            edge = contract / "edge.yaml"
            edge.write_text(
                edge.read_text()
                .replace("connect: 1s", "connect: 60s")
                .replace("upstream: 10s", "upstream: 300s")
            )
            base = run(valgrind, args.frontdoor, contract, port, args.warmup, 0, work, request)
            total = run(valgrind, args.frontdoor, contract, port, args.warmup, args.requests, work, request)
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for found in work.glob("callgrind.*.out"):
                    shutil.copy(found, args.keep / found.name)
    finally:
        upstream.close()
        if jwks is not None:
            jwks.close()
    per_request = (total - base) / args.requests
    result = {
        "frontdoor": str(args.frontdoor),
        "route": args.route,
        "requests": args.requests,
        "warmup": args.warmup,
        "instructions_base": base,
        "instructions_total": total,
        "instructions_per_request": round(per_request),
    }
    print(
        f"{args.frontdoor}: {per_request:,.0f} instructions/request on the {args.route} route "
        f"(callgrind, {args.requests} requests)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
