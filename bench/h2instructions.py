"""The gateway's CPU instructions per HTTP/2 request, counted by valgrind's callgrind: the HTTP/2
counterpart of bench/instructions.py, a measure that a busy machine does not move.

``frontdoor serve`` runs under ``valgrind --tool=callgrind`` with bench/instructions.py's contract (access
log, metrics and trace propagation on) on a TLS entrypoint (a trustme certificate). h2load sends
requests to its public route over HTTP/2 (one connection, ``--streams`` concurrent streams, as the
load of bench/h2.py has per connection); bench/instructions.py's upstream (a thread of this process)
answers each with a fixed 200. The gateway is run twice, each with one h2load run: ``--warmup``
requests, then ``--warmup + --requests``; both runs pay the same start-up, TLS handshake and warm-up,
so the difference of their totals, divided by ``--requests``, is what one request costs once warm (the
once-a-second work, a small part, is counted too: the client side of the HTTP/2 path is not compiled,
so there is no C function to toggle collection on, as bench/instructions.py does). Hash seeds are fixed.

    .venv/bin/python -m bench.h2instructions                                    # .venv-compiled's build
    .venv/bin/python -m bench.h2instructions --frontdoor /other/.venv-compiled/bin/frontdoor
    PYTHONPATH=$PWD/src .venv/bin/python -m bench.h2instructions --frontdoor .venv/bin/frontdoor
    .venv/bin/python -m bench.h2instructions --keep /tmp/cg   # the callgrind files, for callgrind_annotate
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme

from bench.gateway import free_port, write_contract
from bench.instructions import (
    DEFAULT_FRONTDOOR,
    START_TIMEOUT_S,
    Upstream,
    callgrind_total,
    ensure_valgrind,
    gateway_under_callgrind,
)

H2_PATH = "/bench/items"  # the path of bench/instructions.py's counts


def tls_contract(root: Path, port: int, upstream_port: int) -> Path:
    """bench/instructions.py's contract, its entrypoint on TLS (as bench/h2.py sets it up)."""
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    root.mkdir(parents=True, exist_ok=True)
    cert, key = root.parent / "tls.crt", root.parent / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))
    contract = write_contract(root, port, free_port(), upstream_port)
    edge = contract / "edge.yaml"
    edge.write_text(
        edge.read_text()
        .replace(
            'services: ["*"]\n',
            'services: ["*"]\n      tls: {cert: secret:tls-cert, key: secret:tls-key}\n',
            1,
        )
        # valgrind runs the gateway tens of times slower: timeouts no request of a run may reach
        .replace("connect: 1s", "connect: 60s")
        .replace("upstream: 10s", "upstream: 300s")
    )
    env = contract / "env.yaml"
    env.write_text(env.read_text() + f'  secrets: {{tls-cert: "file:{cert}", tls-key: "file:{key}"}}\n')
    return contract


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the gateway exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError("the gateway did not start listening")


def run(
    valgrind: str, frontdoor: Path, contract: Path, port: int, count: int, streams: int, work: Path
) -> int:
    """Total instructions of one gateway run serving ``count`` HTTP/2 requests (one h2load run)."""
    with gateway_under_callgrind(valgrind, frontdoor, contract, work, str(count), None) as started:
        process, log, out = started
        # the connection that found it listening was refused its TLS handshake: not a request
        wait_listening(port, process, log)
        h2load = shutil.which("h2load") or "h2load"
        argv = [h2load, "-t", "1", "-c", "1", "-m", str(streams), "-n", str(count)]
        argv += [f"https://127.0.0.1:{port}{H2_PATH}"]
        said = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=3600).stdout
        done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", said)
        if done is None or int(done.group(1)) != count:
            raise RuntimeError(f"h2load said:\n{said}")
        codes = re.search(r"status codes: (\d+) 2xx", said)
        if codes is None or int(codes.group(1)) != count:
            raise RuntimeError(f"not every answer was 2xx:\n{said}")
    return callgrind_total(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--frontdoor", type=Path, default=DEFAULT_FRONTDOOR, help="the build's frontdoor script"
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests counted (after the warm-up)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--streams", type=int, default=10, help="concurrent streams on the connection")
    parser.add_argument("--json", type=Path, help="also write the result here")
    parser.add_argument("--keep", type=Path, help="copy the two runs' callgrind files here")
    args = parser.parse_args(argv)
    valgrind = ensure_valgrind()
    upstream = Upstream()
    try:
        with tempfile.TemporaryDirectory(prefix="frontdoor-h2instr-") as tmp:
            work = Path(tmp)
            port = free_port()
            contract = tls_contract(work / "contract", port, upstream.port)
            counts = (args.warmup, args.warmup + args.requests)
            base, total = (
                run(valgrind, args.frontdoor, contract, port, n, args.streams, work) for n in counts
            )
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                for found in work.glob("callgrind.*.out"):
                    shutil.copy(found, args.keep / found.name)
    finally:
        upstream.close()
    per_request = (total - base) / args.requests
    result = {
        "frontdoor": str(args.frontdoor),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "requests": args.requests,
        "warmup": args.warmup,
        "streams": args.streams,
        "instructions_base": base,
        "instructions_total": total,
        "instructions_per_request": round(per_request),
    }
    print(
        f"{args.frontdoor}: {per_request:,.0f} instructions/request over HTTP/2 "
        f"(callgrind, {args.requests} requests, {args.streams} streams)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
