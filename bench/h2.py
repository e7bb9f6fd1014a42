"""HTTP/2 through the gateway, next to nginx: requests/s and p99 latency over TLS, with h2load.

Everything runs on 127.0.0.1 with free ports, in a temporary directory, and is stopped at the end:

- a static upstream: nginx (1 worker) answering every path with a small fixed body (bench/gateway.py's);
- nginx (1 worker) terminating TLS with HTTP/2 on (``http2 on``, or ``listen ... http2`` before 1.25.1)
  and proxying to it over HTTP/1.1 with upstream keep-alive;
- ``frontdoor serve`` (one process) on a TLS entrypoint with the same certificate (trustme), proxying to
  the same upstream.

h2load (nghttp2-client) loads each in turn, HTTP/2 (``-c C -m M``: C connections, M streams each) and
HTTP/1.1 over the same TLS (``--h1 -c C``), for a few rounds in alternating order; the table gives each
target's median req/s and p99 (from h2load's per-request log) and frontdoor's ratio to nginx.

    .venv/bin/python -m bench.h2
    .venv/bin/python -m bench.h2 --duration 10 --rounds 3 --frontdoor .venv-compiled/bin/frontdoor
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import trustme

from bench.gateway import (
    PATH,
    UPSTREAM_BODY,
    Processes,
    build_of,
    cpu_model,
    free_port,
    frontdoor_argv,
    git_state,
    log,
    machine_busy,
    nginx_conf,
    start_nginx,
    write_contract,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "h2.json"
TARGETS = ("nginx", "frontdoor")


def nginx_http2_syntax(nginx: str) -> tuple[str, str]:
    """The listen suffix and the directive that turn HTTP/2 on, by nginx's version."""
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False).stderr
    found = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", version)
    numbers = tuple(int(n) for n in found.groups()) if found else (0, 0, 0)
    return ("", "http2 on;") if numbers >= (1, 25, 1) else (" http2", "")


def start_targets(procs: Processes, workdir: Path, nginx: str, frontdoor: list[str]) -> dict[str, int]:
    """The upstream, nginx and frontdoor; the TLS port of each proxy."""
    ca = trustme.CA()
    issued = ca.issue_cert("localhost", "127.0.0.1")
    cert, key = workdir / "tls.crt", workdir / "tls.key"
    issued.private_key_pem.write_to_path(str(key))
    issued.cert_chain_pems[0].write_to_path(str(cert))

    upstream_port = free_port()
    static = f"""server {{ listen 127.0.0.1:{upstream_port}; location / {{
        default_type text/plain; return 200 "{UPSTREAM_BODY.strip()}\\n"; }} }}"""
    start_nginx(
        procs, nginx, "upstream", nginx_conf(workdir, "upstream", nginx, static), upstream_port, workdir
    )

    nginx_port, ready_port = free_port(), free_port()
    suffix, directive = nginx_http2_syntax(nginx)
    proxy = f"""
        upstream static {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
        server {{
            listen 127.0.0.1:{nginx_port} ssl{suffix};
            listen 127.0.0.1:{ready_port};
            {directive}
            ssl_certificate {cert};
            ssl_certificate_key {key};
            ssl_protocols TLSv1.2 TLSv1.3;
            location / {{
                proxy_pass http://static;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
            }}
        }}
    """
    conf = nginx_conf(workdir, "nginx", nginx, proxy, access_log=str(workdir / "nginx-access.log"))
    proc = start_nginx(procs, nginx, "nginx", conf, ready_port, workdir)
    proc.port = nginx_port

    port, admin_port = free_port(), free_port()
    contract = write_contract(workdir / "contract", port, admin_port, upstream_port)
    edge = contract / "edge.yaml"
    edge.write_text(
        edge.read_text().replace(
            'services: ["*"]\n',
            'services: ["*"]\n      tls: {cert: secret:tls-cert, key: secret:tls-key}\n',
            1,
        )
    )
    env = contract / "env.yaml"
    env.write_text(env.read_text() + f'  secrets: {{tls-cert: "file:{cert}", tls-key: "file:{key}"}}\n')
    argv = [*frontdoor, "serve", str(contract), "--env", "bench", "--access-log", str(workdir / "fd.log")]
    procs.start("frontdoor", argv, port, "/readyz", ready_port=admin_port)
    return {"nginx": nginx_port, "frontdoor": port}


def run_h2load(
    h2load: str, port: int, http1: bool, connections: int, streams: int, duration: int, workdir: Path
) -> dict[str, Any]:
    """One h2load run: req/s, and latency percentiles from its per-request log."""
    log_file = workdir / "h2load.log"
    argv = [h2load, "-t", "1", "-c", str(connections), "-D", str(duration), "--warm-up-time", "1"]
    argv += ["--h1"] if http1 else ["-m", str(streams)]
    argv += [f"--log-file={log_file}", f"https://127.0.0.1:{port}{PATH}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=duration + 60).stdout
    rps = re.search(r"finished in [^,]+, ([\d.]+) req/s", out)
    done = re.search(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed", out)
    if rps is None or done is None:
        raise RuntimeError(f"h2load said:\n{out}")
    micros = sorted(
        int(fields[2]) for line in log_file.read_text().splitlines() if len(fields := line.split("\t")) >= 3
    )
    log_file.unlink()

    def percentile(share: float) -> float:
        return micros[min(len(micros) - 1, int(share * len(micros)))] / 1000 if micros else 0.0

    return {
        "rps": float(rps.group(1)),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "succeeded": int(done.group(2)),
        "failed": int(done.group(3)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=8, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--streams", type=int, default=10, help="concurrent streams per HTTP/2 connection")
    parser.add_argument("--frontdoor", help="the frontdoor executable (default: this venv's)")
    args = parser.parse_args(argv)
    nginx, h2load = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("h2load")
    if h2load is None:
        log("h2load is missing: scripts/system-packages.sh installs nghttp2-client")
        return 1
    frontdoor = [args.frontdoor] if args.frontdoor else frontdoor_argv()
    busy = machine_busy()
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="frontdoor-bench-h2-") as scratch:
        workdir = Path(scratch)
        procs = Processes(workdir)
        try:
            ports = start_targets(procs, workdir, nginx, frontdoor)
            for round_ in range(args.rounds):
                order = TARGETS if round_ % 2 == 0 else tuple(reversed(TARGETS))
                for protocol in ("h2", "h1"):
                    for target in order:
                        result = run_h2load(
                            h2load,
                            ports[target],
                            protocol == "h1",
                            args.connections,
                            args.streams,
                            args.duration,
                            workdir,
                        )
                        rows.setdefault(f"{target} {protocol}", []).append(result)
                        log(f"round {round_ + 1} {target} {protocol}: {result}")
        finally:
            procs.stop_all()
    summary: dict[str, dict[str, Any]] = {}
    for name, runs in rows.items():
        summary[name] = {
            key: statistics.median(run[key] for run in runs) for key in ("rps", "p50_ms", "p99_ms")
        }
        summary[name]["failed"] = sum(run["failed"] for run in runs)
    ratios = {
        protocol: {
            "rps": round(summary[f"frontdoor {protocol}"]["rps"] / summary[f"nginx {protocol}"]["rps"], 2),
            "p99": round(
                summary[f"frontdoor {protocol}"]["p99_ms"] / summary[f"nginx {protocol}"]["p99_ms"], 2
            ),
        }
        for protocol in ("h2", "h1")
    }
    lines = [f"{'target':<16} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}"]
    for name, row in summary.items():
        lines.append(
            f"{name:<16} {row['rps']:>10.0f} {row['p50_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['failed']:>7}"
        )
    for protocol, ratio in ratios.items():
        label = "HTTP/2" if protocol == "h2" else "HTTP/1.1 over TLS"
        lines.append(f"frontdoor / nginx, {label}: req/s {ratio['rps']}x, p99 {ratio['p99']}x")
    print("\n".join(lines))
    machine = {"cpu": cpu_model(), "cores_busy_before": busy}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: getattr(args, k) for k in ("duration", "rounds", "connections", "streams")}
    RESULTS.write_text(
        json.dumps(
            {
                "summary": summary,
                "ratios": ratios,
                "settings": settings,
                "machine": machine,
                "build": build_of(args.frontdoor),
                "code": git_state(ROOT),
            },
            indent=2,
        )
        + "\n"
    )
    log(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
