"""How fast the gateway proxies, next to nginx: requests/s, p50/p99 latency and idle-connection memory.

Everything runs on 127.0.0.1 with free ports, in a temporary directory, and is stopped at the end:

- a static upstream: its own nginx (1 worker) answering every path with a small fixed body;
- nginx (1 worker) proxying to it with upstream keep-alive (``keepalive 64``, HTTP/1.1, ``Connection ""``);
- ``frontdoor serve`` (one process) with a generated contract whose public route goes to it,
  its access log written to a file and its metrics recorded;
- the same gateway on a route that needs a bearer token (target ``frontdoor-token``): the benchmark makes
  an RSA key, serves its JWKS (``python -m http.server``), and sends one valid token, verified once and
  then cached;
- a naive aiohttp proxy (aiohttp.web + one ClientSession) for scale;
- the static upstream itself, as the ceiling of what any proxy in front of it can reach;
- ``frontdoor-ratelimit``: a public route of another service of the same gateway process, with a local
  rate limit that is never reached; ``frontdoor-redis``: the public route in a gateway of its own whose
  limit, never reached either, is kept in a redis-server the benchmark starts. Their req/s is reported as
  a ratio to ``frontdoor``'s (rate limiting on must keep >= 0.95x).

wrk (``-t1 -cN --latency``) runs against each in turn, in a different order each round, after a short
warm-up; the table gives the median of the rounds for each target and its ratio to nginx (every ratio
is the median of the rounds' ratios: the two targets of a round ran seconds apart), and the
target's own CPU time per request (from /proc: steadier than req/s on a small machine shared with wrk
and the upstream). nginx writes its access log to a file, as frontdoor does (--nginx-access-log off to
drop it). The comparisons that have goals (frontdoor against nginx, and the token and rate-limited
routes against the public one) are then measured again by interleaving: pairs of short runs of the two
sides only, in the order A B B A A B... (--pairs, --pair-duration), whose median ratio a machine that
drifts within seconds biases less. Then 10,000
idle keep-alive connections (one request sent on each) are held open to frontdoor and to nginx, and the
resident memory of the gateway process and of nginx's worker is read from /proc.

The results are printed and written to ``bench/results/latest.json``. nginx and wrk are installed with
apt-get when missing, aiohttp with pip.

    .venv/bin/python bench/gateway.py
    .venv/bin/python bench/gateway.py --duration 10 --rounds 5 --connections 100
    .venv/bin/python bench/gateway.py --targets nginx,frontdoor --skip-idle --keep
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import http.client
import importlib
import importlib.util
import json
import os
import platform
import queue
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from frontdoor.demo.documents import join, service, team

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "latest.json"
PATH = "/bench/ping"  # the request every target answers; frontdoor's public route is /bench
UPSTREAM_BODY = "ok: a small fixed body from the static upstream\n"
TOKEN_PATH = "/secure/ping"  # frontdoor's route that needs a token with the scope bench:read
TARGETS = (
    "nginx",
    "frontdoor",
    "frontdoor-token",
    "aiohttp",
    "upstream",
    "frontdoor-ratelimit",
    "frontdoor-redis",
)
# issue 18's goals (ratios measured in one run): the public route against nginx, the token route against
# nginx (through the public route's ratio: 0.75 / 0.8), p99 against nginx's, memory with idle connections
GOALS = {
    "rps_ratio_min": 0.8,
    "rps_ratio_not_done_below": 0.4,
    "p99_ratio_max": 1.5,
    "idle_10k_mb_max": 100,
    "token_vs_public_rps_min": 0.94,
}
# the goals of the interleaved comparisons, by the other side (its base: nginx, or the public route)
INTERLEAVED_GOALS = {
    "frontdoor": 0.8,
    "frontdoor-token": 0.94,
    "frontdoor-ratelimit": 0.95,
    "frontdoor-redis": 0.8,
}


# --- small utilities ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def raise_nofile() -> int:
    """Raise this process's open-file limit to its hard limit (root may not raise the hard one here)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 1_048_576 if hard == resource.RLIM_INFINITY else hard
    if soft < wanted:
        try:
            resource.setrlimit(
                resource.RLIMIT_NOFILE, (wanted, wanted if hard != resource.RLIM_INFINITY else hard)
            )
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _preexec() -> None:
    """In each child before exec: a high file limit, so that 10,000 connections fit."""
    raise_nofile()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far, from /proc/PID/stat."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def nofile_of(pid: int) -> str:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return " ".join(line.split()[3:5])
    return "?"


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: the fields after it are fixed
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


def machine_cpu(steal: bool = False) -> float:
    """CPU seconds all processes have run since boot (user, nice, system: what /proc/PID/stat counts for
    processes); with ``steal``, the time the hypervisor gave this machine's cores to someone else."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (values[7] if steal else values[0] + values[1] + values[2]) / os.sysconf("SC_CLK_TCK")


def machine_busy(seconds: float = 1.0) -> float:
    """How busy the cores are now, 0 to 1: anything else running on a small machine shows in every number."""
    before = machine_cpu() + machine_cpu(steal=True)
    time.sleep(seconds)
    return round((machine_cpu() + machine_cpu(steal=True) - before) / seconds / (os.cpu_count() or 1), 2)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def http_get(port: int, path: str, timeout: float = 2.0, headers: dict[str, str] | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def log(message: str) -> None:
    print(f"[bench] {message}", flush=True)


# --- tools: nginx, wrk, aiohttp ----------------------------------------------------------------------


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"):
        candidate = Path(folder) / name
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def ensure_tools() -> tuple[str, str]:
    """nginx and wrk from Debian's packages when missing (apt-get update once), aiohttp with pip."""
    nginx, wrk = find_binary("nginx"), find_binary("wrk")
    if nginx is None or wrk is None:
        if os.geteuid() != 0:
            raise SystemExit("bench: nginx and wrk are missing and installing them needs root (apt-get)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        log("installing " + ", ".join(n for n, b in (("nginx", nginx), ("wrk", wrk)) if b is None))
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, timeout=600)
        if wrk is None:
            subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, env=env, timeout=600)
        if nginx is None:
            light = subprocess.run(
                ["apt-get", "install", "-y", "-q", "nginx-light"], check=False, env=env, timeout=600
            )
            if light.returncode != 0:
                subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True, env=env, timeout=600)
        nginx, wrk = find_binary("nginx"), find_binary("wrk")
        if nginx is None or wrk is None:
            raise SystemExit("bench: nginx or wrk is still missing after apt-get install")
    if importlib.util.find_spec("aiohttp") is None:
        log("installing aiohttp into " + sys.prefix)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "aiohttp"], check=True, timeout=600)
        importlib.invalidate_caches()
    return nginx, wrk


def tool_versions(nginx: str, wrk: str) -> dict[str, str]:
    versions = {"python": platform.python_version()}
    out = subprocess.run([nginx, "-v"], check=False, capture_output=True, text=True, timeout=10)
    versions["nginx"] = (out.stderr or out.stdout).strip().removeprefix("nginx version: ")
    out = subprocess.run([wrk, "-v"], check=False, capture_output=True, text=True, timeout=10)
    versions["wrk"] = ((out.stdout or out.stderr).strip().splitlines() or ["?"])[0]
    for package in ("aiohttp", "uvloop", "httptools"):
        with contextlib.suppress(Exception):
            versions[package] = importlib.import_module("importlib.metadata").version(package)
    return versions


# --- the processes -----------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    output: Path
    port: int
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return int(self.process.pid)

    def serving_pids(self) -> list[int]:
        """The processes that do the work: nginx's workers (or frontdoor's, with --workers), else itself."""
        return children_of(self.pid) or [self.pid]

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.output.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class Processes:
    """Every process this benchmark starts, stopped in reverse order however the run ends."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Proc] = []

    def start(
        self,
        name: str,
        argv: list[str],
        port: int,
        ready_path: str,
        ready_port: int | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Proc:
        output = self.workdir / f"{name}.out"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_preexec,  # noqa: PLW1509 - started before any thread of ours runs
                start_new_session=True,  # a Ctrl-C reaches the benchmark, which stops them in order
            )
        proc = Proc(name, process, output, port)
        self.started.append(proc)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{proc.tail()}")
            with contextlib.suppress(OSError, http.client.HTTPException):
                if http_get(ready_port or port, ready_path) == 200:
                    return proc
            time.sleep(0.05)
        raise RuntimeError(f"{name} did not answer 200 on {ready_path} within {timeout:.0f}s:\n{proc.tail()}")

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            with contextlib.suppress(Exception):
                proc.stop()


def nginx_conf(
    workdir: Path,
    name: str,
    nginx: str,
    server: str,
    upstream: str = "",
    worker_connections: int = 4096,
    nofile: int = 4096,
    access_log: str = "off",
    workers: int = 1,
) -> Path:
    """A self-contained config: pid, logs and temp paths in ``workdir``; nothing under /etc/nginx."""
    built = subprocess.run([nginx, "-V"], check=False, capture_output=True, text=True, timeout=10).stderr
    temp = workdir / f"{name}-temp"
    temp.mkdir(exist_ok=True)
    paths = [f"client_body_temp_path {temp}/body;", f"proxy_temp_path {temp}/proxy;"]
    for module in ("fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{module}_module" not in built:
            paths.append(f"{module}_temp_path {temp}/{module};")
    user = "user root root;" if os.geteuid() == 0 else ""  # workers must read the 0700 temp directory
    conf = f"""
        {user}
        worker_processes {workers};
        worker_rlimit_nofile {nofile};
        pid {workdir}/{name}.pid;
        error_log {workdir}/{name}-error.log warn;
        events {{ worker_connections {worker_connections}; }}
        http {{
            {" ".join(paths)}
            access_log {access_log};
            keepalive_timeout 120s;
            keepalive_requests 1000000;
            {upstream}
            {server}
        }}
    """
    path = workdir / f"{name}.conf"
    path.write_text(textwrap.dedent(conf))
    return path


def start_nginx(procs: Processes, nginx: str, name: str, conf: Path, port: int, workdir: Path) -> Proc:
    argv = [
        nginx,
        "-e",
        str(workdir / f"{name}-error.log"),
        "-p",
        str(workdir),
        "-c",
        str(conf),
        "-g",
        "daemon off; master_process on;",
    ]
    proc = procs.start(name, argv, port, PATH)
    proc.extra["conf"] = str(conf)
    return proc


CONTRACT_TEAMS = join(team("bench", "app"), team("edge", "platform"), team("delivery", "delivery"))
CONTRACT_SERVICE = service(
    "static",
    "bench",
    """
    - {path: /bench, access: public}
    - {path: /secure, access: {scopes: ["bench:read"]}}
    """,
)


# The route of ``frontdoor-ratelimit``: its own service, with a local rate limit never reached, served by
# the same gateway process as the public route, so that the two are compared within one process.
LIMITED_PATH = "/limited/ping"
CONTRACT_LIMITED = service("limited", "bench", "- {path: /limited, access: public}")
LOCAL_LIMIT = "{store: local, services: {limited: NEVER_REACHED}}"


class SigningKey:
    """An RSA key, its JWKS document, and one RS256 token valid for a day from ``issuer`` (a URL whose
    ``keys`` serves the JWKS): what a route needing a token is benchmarked with."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import rsa
        from jwt.algorithms import RSAAlgorithm

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = {**RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True), "kid": "bench-1", "use": "sig"}
        self.jwks = json.dumps({"keys": [jwk]})

    def token(self, issuer: str) -> str:
        import jwt

        now = int(time.time())
        claims: dict[str, object] = {"iss": issuer, "aud": "bench", "sub": "bench-user"}
        claims |= {"scope": "bench:read", "iat": now, "exp": now + 86400}
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "bench-1"})


def identity_of(issuer: str) -> str:
    """The Edge's ``identity`` trusting ``issuer`` (its JWKS at ``issuer`` + ``keys``)."""
    return (
        f'{{providers: [{{name: bench-idp, issuer: "{issuer}", audiences: [bench], '
        f'algorithms: [RS256], jwks_uri: "{issuer}keys"}}]}}'
    )


class TokenIssuer:
    """What the ``frontdoor-token`` target needs: a SigningKey, its JWKS served over HTTP (by a small
    ``python -m http.server`` process: no thread here, since processes are started with a preexec_fn),
    and one token valid for a day."""

    def __init__(self, procs: Processes, workdir: Path) -> None:
        signing = SigningKey()
        folder = workdir / "jwks"
        folder.mkdir(exist_ok=True)
        (folder / "keys").write_text(signing.jwks)
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(folder),
        ]
        procs.start("jwks", argv, port, "/keys")
        self.issuer = f"http://127.0.0.1:{port}/"
        self.token = signing.token(self.issuer)

    @property
    def header(self) -> str:
        return f"Authorization: Bearer {self.token}"

    def identity(self) -> str:
        return identity_of(self.issuer)


def write_contract(
    root: Path,
    port: int,
    admin_port: int,
    upstream_port: int,
    identity: str = "{}",
    rate_limits: str = LOCAL_LIMIT,
) -> Path:
    """A public route and a token route to the static upstream, and the rate-limited route of another
    service to it; header timeout 60s and idle 120s for the idle test."""
    root.mkdir(parents=True, exist_ok=True)
    edge = f"""
        apiVersion: frontdoor/v1
        kind: Edge
        metadata: {{name: edge, owner: edge}}
        spec:
          entrypoints:
            - name: bench
              listen: "127.0.0.1:{port}"
              hosts: ["*"]
              services: ["*"]
          identity: {identity}
          rate_limits: {rate_limits.replace("NEVER_REACHED", NEVER_REACHED)}
          protection:
            max_request_body: 1MiB
            max_header_bytes: 8KiB
            timeouts: {{connect: 1s, header: 60s, upstream: 10s, idle: 120s}}
            retries: {{attempts: 2, only_idempotent: true}}
          observability: {{access_log: {{}}, metrics: {{}}, tracing: {{propagate: w3c}}}}
          admin: {{listen: "127.0.0.1:{admin_port}", operators: [edge]}}
    """
    environment = f"""
        apiVersion: frontdoor/v1
        kind: Environment
        metadata: {{name: bench, owner: delivery}}
        spec:
          upstreams:
            static: ["http://127.0.0.1:{upstream_port}"]
            limited: ["http://127.0.0.1:{upstream_port}"]
    """
    (root / "teams.yaml").write_text(CONTRACT_TEAMS)
    (root / "services.yaml").write_text(join(CONTRACT_SERVICE, CONTRACT_LIMITED))
    (root / "edge.yaml").write_text(textwrap.dedent(edge))
    (root / "env.yaml").write_text(textwrap.dedent(environment))
    return root


def git_state(tree: Path) -> dict[str, Any]:
    """Which code was measured: the commit, and whether the work tree had changes on top of it."""

    def git(*argv: str) -> str:
        out = subprocess.run(["git", "-C", str(tree), *argv], check=False, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    status = git("status", "--porcelain", "--", "src")
    return {"commit": git("rev-parse", "HEAD") or None, "src_changed": bool(status)}


def build_of(executable: str | None) -> str:
    """ "compiled (mypyc)" when the request path the executable runs is compiled, else "python"."""
    python = Path(executable).parent / "python" if executable else Path(sys.executable)
    probe = "import frontdoor.proxy.downstream as m; print(m.__file__)"
    out = subprocess.run([str(python), "-c", probe], check=False, capture_output=True, text=True, timeout=30)
    return "compiled (mypyc)" if out.stdout.strip().endswith(".so") else "python"


def frontdoor_argv() -> list[str]:
    script = Path(sys.executable).parent / "frontdoor"
    return [str(script)] if script.exists() else [sys.executable, "-m", "frontdoor"]


# --- rate limiting on the same route: frontdoor-ratelimit (local store), frontdoor-redis (Redis store) ----

PROTECTION_GOAL = 0.95  # rate limiting on (local, never reached) keeps this share of the public route's req/s
REDIS_GOAL = 0.8  # the same with the limit kept in Redis (issue 18)
NEVER_REACHED = "{requests: 1000000000, per: 1s, burst: 1000000000, key: client}"


def start_redis(procs: Processes, workdir: Path) -> Proc:
    """A redis-server of the benchmark's own, persisting nothing; stopped with the other processes."""
    binary = find_binary("redis-server")
    if binary is None:
        raise SystemExit("bench: frontdoor-redis needs redis-server (scripts/system-packages.sh installs it)")
    port = free_port()
    output = workdir / "redis.out"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc("redis", process, output, port)
    procs.started.append(proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return proc
        time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer:\n{proc.tail()}")


def start_protection_targets(
    procs: Processes,
    targets: list[str],
    workdir: Path,
    upstream_port: int,
    source: str | None,
    binary: str | None = None,
) -> dict[str, Proc]:
    """The public route of ``frontdoor`` again, with a rate limit that is never reached, kept in a Redis
    started here, in a ``frontdoor serve`` of its own (one process). (``frontdoor-ratelimit``, the local
    limit, is a route of the ``frontdoor`` process itself.)"""
    started: dict[str, Proc] = {}
    for name in ("frontdoor-redis",):
        if name not in targets:
            continue
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        launcher = [binary] if binary else frontdoor_argv()  # the same build as the frontdoor target
        if source:
            launcher = [sys.executable, "-m", "frontdoor"]
            env["PYTHONPATH"] = str(Path(source).resolve())
        port, admin = free_port(), free_port()
        limits = "{store: redis, default: NEVER_REACHED}"
        contract = write_contract(workdir / name, port, admin, upstream_port, rate_limits=limits)
        env["FRONTDOOR_BENCH_REDIS_URL"] = f"redis://127.0.0.1:{start_redis(procs, workdir).port}/0"
        with (contract / "env.yaml").open("a") as environment:
            environment.write('  secrets: {redis-url: "env:FRONTDOOR_BENCH_REDIS_URL"}\n')
        log_file = workdir / f"{name}-access.log"
        argv = [*launcher, "serve", str(contract), "--env", "bench", "--access-log", str(log_file)]
        proc = procs.start(name, argv, port, "/readyz", ready_port=admin, env=env)
        expect_rate_limited(proc, PATH)
        started[name] = proc
    return started


def expect_rate_limited(proc: Proc, path: str, tries: int = 25) -> None:
    """``path`` answers 200 with a RateLimit field: the limit is on, and not reached. A first Redis call
    (connecting, loading the script) may miss its 50 ms deadline on a busy machine and pass unlimited,
    without the field: the store is tried again after its backoff, so ask again a few times."""
    for _ in range(tries):
        connection = http.client.HTTPConnection("127.0.0.1", proc.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            limited = response.getheader("ratelimit")
        finally:
            connection.close()
        if response.status == 200 and limited:
            return
        time.sleep(0.3)
    raise RuntimeError(f"{proc.name} does not answer 200 with a RateLimit field on {path}:\n{proc.tail()}")


# the comparisons also measured by interleaving (base, other): frontdoor against nginx, and the routes of
# one gateway process against its public route
INTERLEAVED_PAIRS = (
    ("nginx", "frontdoor"),
    ("frontdoor", "frontdoor-token"),
    ("frontdoor", "frontdoor-ratelimit"),
    ("frontdoor", "frontdoor-redis"),
)


def interleaved(run: Callable[[str], dict[str, Any]], base: str, other: str, pairs: int) -> dict[str, Any]:
    """``pairs`` pairs of short runs, in the order base, other, other, base, base, other...: the two runs
    of a pair follow each other, and the order alternates, so a machine that drifts during the
    measurement (a hypervisor lending and taking back cores) moves both sides of a pair alike and
    favours neither side over the whole. The ratio is the median of the pairs' other/base req/s."""
    runs: dict[str, list[dict[str, Any]]] = {base: [], other: []}
    for index in range(pairs):
        for name in (base, other) if index % 2 == 0 else (other, base):
            runs[name].append(run(name))
    ratios = [o["rps"] / b["rps"] for b, o in zip(runs[base], runs[other], strict=True) if b["rps"]]
    base_cpu = [r["cpu_us_per_request"] for r in runs[base] if "cpu_us_per_request" in r]
    other_cpu = [r["cpu_us_per_request"] for r in runs[other] if "cpu_us_per_request" in r]
    return {
        "base": base,
        "other": other,
        "pairs": pairs,
        "rps_ratio": round(statistics.median(ratios), 3) if ratios else 0.0,
        "pair_ratios": [round(r, 3) for r in ratios],
        "cpu_ratio": (
            round(statistics.median(other_cpu) / statistics.median(base_cpu), 3)
            if base_cpu and other_cpu
            else None
        ),
        "rps": {base: [round(r["rps"]) for r in runs[base]], other: [round(r["rps"]) for r in runs[other]]},
    }


def paired_ratio(row: dict[str, Any], base: dict[str, Any]) -> float:
    """The median, over the rounds, of ``row``'s req/s over ``base``'s in the same round: both ran
    within seconds of each other, so a machine that slows down or speeds up between rounds (a shared
    hypervisor) moves both, and the ratio less than either."""
    pairs = [a / b for a, b in zip(row["rounds_rps"], base["rounds_rps"], strict=True) if b]
    return round(statistics.median(pairs), 3) if pairs else 0.0


def protection_ratios(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """req/s and CPU per request of the rate-limited targets next to the same route without a limit."""
    base = summary.get("frontdoor")
    found: dict[str, Any] = {
        "goal_ratelimit_rps_ratio_min": PROTECTION_GOAL,
        "goal_redis_rps_ratio_min": REDIS_GOAL,
    }
    for name in ("frontdoor-ratelimit", "frontdoor-redis"):
        row = summary.get(name)
        if row is None or base is None:
            continue
        found[name] = {
            "rps": row["rps"],
            "rps_ratio_to_frontdoor": paired_ratio(row, base),
            "cpu_us_per_request": row.get("cpu_us_per_request"),
            "cpu_ratio_to_frontdoor": (
                round(row["cpu_us_per_request"] / base["cpu_us_per_request"], 3)
                if row.get("cpu_us_per_request") and base.get("cpu_us_per_request")
                else None
            ),
        }
    return found


def protection_lines(found: dict[str, Any]) -> list[str]:
    lines = []
    for name, what in (("frontdoor-ratelimit", "local rate limit"), ("frontdoor-redis", "Redis rate limit")):
        row = found.get(name)
        if row is None:
            continue
        line = (
            f"{name}: {row['rps']:,.0f} req/s, {row['rps_ratio_to_frontdoor']:.2f}x the public route's "
            f"without a limit ({what}"
        )
        if row.get("cpu_ratio_to_frontdoor"):
            line += f"; cpu per request {row['cpu_ratio_to_frontdoor']:.2f}x"
        line += ")"
        goal = PROTECTION_GOAL if name == "frontdoor-ratelimit" else REDIS_GOAL
        ok = row["rps_ratio_to_frontdoor"] >= goal
        line += f"; goal >= {goal}x: {'met' if ok else 'NOT met'}"
        lines.append(line)
    return lines


# --- the naive aiohttp proxy (run in its own process: `gateway.py naive-proxy PORT UPSTREAM`) ---------

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)


def run_naive_proxy(port: int, upstream: str) -> None:
    """What a first proxy in aiohttp looks like: read the request, forward it with a session, answer."""
    aiohttp = importlib.import_module("aiohttp")
    web = importlib.import_module("aiohttp.web")

    async def on_startup(app: Any) -> None:
        app["session"] = aiohttp.ClientSession(auto_decompress=False)

    async def on_cleanup(app: Any) -> None:
        await app["session"].close()

    async def handle(request: Any) -> Any:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with request.app["session"].request(
            request.method,
            upstream + request.path_qs,
            headers=headers,
            data=body or None,
            allow_redirects=False,
        ) as response:
            payload = await response.read()
            out = {
                k: v
                for k, v in response.headers.items()
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
            }
            return web.Response(status=response.status, body=payload, headers=out)

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


# --- idle keep-alive connections (in their own process: `gateway.py idle-clients PORT COUNT`) ---------


class IdleClient(asyncio.Protocol):
    """One connection: send one request (or none), read its response, then hold the connection."""

    def __init__(self, request: bytes, done: asyncio.Future[int]) -> None:
        self.request = request
        self.done = done
        self.buffer = b""
        self.closed = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.request:
            transport.write(self.request)  # type: ignore[attr-defined]
        else:
            self.done.set_result(0)

    def data_received(self, data: bytes) -> None:
        if self.done.done():
            return
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].decode("latin-1").split("\r\n")
        status = int(head[0].split()[1])
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        if len(self.buffer) >= end + 4 + length:
            self.buffer = b""
            self.done.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.done.done():
            self.done.set_exception(ConnectionError("closed before the response"))


async def hold_idle_clients(port: int, count: int, send: bool, batch: int, hold: float) -> None:
    loop = asyncio.get_running_loop()
    request = f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode() if send else b""
    clients: list[IdleClient] = []
    statuses: Counter[str] = Counter()
    started = time.monotonic()

    async def one() -> None:
        done: asyncio.Future[int] = loop.create_future()
        try:
            _, client = await asyncio.wait_for(
                loop.create_connection(lambda: IdleClient(request, done), "127.0.0.1", port), 10
            )
            clients.append(client)
            statuses[str(await asyncio.wait_for(done, 10))] += 1
        except Exception as exc:  # counted, not fatal: the report says how many failed and why
            statuses[type(exc).__name__] += 1

    for first in range(0, count, batch):
        await asyncio.gather(*(one() for _ in range(min(batch, count - first))))
    opened = sum(1 for c in clients if not c.closed)
    print(
        json.dumps({"opened": opened, "statuses": statuses, "seconds": round(time.monotonic() - started, 2)}),
        flush=True,
    )
    commands: asyncio.Queue[str] = asyncio.Queue()

    def read_commands() -> None:  # a daemon thread: stdin has no non-blocking reader in asyncio
        for line in sys.stdin:
            loop.call_soon_threadsafe(commands.put_nowait, line.strip())
        loop.call_soon_threadsafe(commands.put_nowait, "exit")

    threading.Thread(target=read_commands, daemon=True).start()
    deadline = time.monotonic() + hold
    with contextlib.suppress(TimeoutError):
        while time.monotonic() < deadline:
            command = await asyncio.wait_for(commands.get(), deadline - time.monotonic())
            if command != "count":
                break
            print(json.dumps({"open": sum(1 for c in clients if not c.closed)}), flush=True)
    for client in clients:
        if client.transport is not None:
            client.transport.abort()  # RST: no 10,000 sockets left in TIME_WAIT


def run_idle_clients(port: int, count: int, send: bool, batch: int, hold: float) -> None:
    raise_nofile()
    asyncio.run(hold_idle_clients(port, count, send, batch, hold))


def _lines(stream: IO[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def measure_idle(proc: Proc, pids: dict[str, int], count: int, send: bool, settle: float) -> dict[str, Any]:
    """Hold ``count`` idle connections to ``proc`` and read the resident memory of ``pids`` meanwhile."""
    before = {label: rss_kib(pid) for label, pid in pids.items()}
    argv = [sys.executable, __file__, "idle-clients", str(proc.port), str(count), "--hold", "120"]
    if not send:
        argv.append("--no-request")
    # no preexec_fn once threads run: the helper raises its own limit, and inherits ours anyway
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert client.stdin is not None and client.stdout is not None
        lines = _lines(client.stdout)
        opened = json.loads(lines.get(timeout=120) or "{}")
        time.sleep(settle)  # let the gateway settle; read its memory while the connections are held
        during = {label: rss_kib(pid) for label, pid in pids.items()}
        client.stdin.write("count\n")
        client.stdin.flush()
        still = json.loads(lines.get(timeout=30) or "{}")
        client.stdin.write("exit\n")
        client.stdin.flush()
        client.wait(30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(5)
    return {
        "connections": count,
        "request_on_each": send,
        "opened": opened.get("opened"),
        "open_after_settle": still.get("open"),
        "responses": opened.get("statuses"),
        "open_seconds": opened.get("seconds"),
        "rss_before_mib": {k: round(v / 1024, 1) for k, v in before.items()},
        "rss_with_idle_mib": {k: round(v / 1024, 1) for k, v in during.items()},
        "rss_added_mib": {k: round((during[k] - before[k]) / 1024, 1) for k in during},
        "rss_added_kib_per_connection": {k: round((during[k] - before[k]) / count, 2) for k in during},
    }


# --- wrk ---------------------------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def parse_wrk(output: str) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if match := re.search(r"Requests/sec:\s+([\d.]+)", output):
        result["rps"] = float(match.group(1))
    for percent, key in (("50", "p50_ms"), ("75", "p75_ms"), ("90", "p90_ms"), ("99", "p99_ms")):
        if match := re.search(rf"^\s+{percent}%\s+(\S+)", output, re.MULTILINE):
            result[key] = round(_ms(match.group(1)), 3)
    if match := re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", output):
        result["requests"] = int(match.group(1))
    match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    result["non_2xx_3xx"] = int(match.group(1)) if match else 0
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["socket_errors"] = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups()), strict=True))
        if match
        else {}
    )
    if "rps" not in result or "p99_ms" not in result:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    return result


def run_wrk(
    wrk: str,
    port: int,
    duration: float,
    connections: int,
    threads: int,
    pids: list[int] | None = None,
    helpers: list[int] | None = None,
    path: str = PATH,
    headers: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One wrk run; with ``pids`` (the target's) and ``helpers`` (the upstream's) also what CPU they used,
    and how much CPU anything else on the machine took meanwhile (``other_cpu``, in cores)."""
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration:g}s",
        "--timeout",
        "5s",
        "--latency",
        *(arg for header in headers for arg in ("-H", header)),
        f"http://127.0.0.1:{port}{path}",
    ]
    ours = [*(pids or []), *(helpers or [])]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk's CPU, once it has been waited for
    cpu_before, ours_before, machine_before = cpu_seconds(pids or []), cpu_seconds(ours), machine_cpu()
    steal_before = machine_cpu(steal=True)
    started = time.monotonic()
    out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=duration + 60)
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pids or []) - cpu_before
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    other = machine_cpu() - machine_before - (cpu_seconds(ours) - ours_before) - wrk_cpu
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    result = parse_wrk(out.stdout)
    if pids and result.get("requests"):
        # the target's own CPU time per request: on a small, shared machine a fairer cost than req/s alone
        result["cpu_us_per_request"] = round(cpu / result["requests"] * 1e6, 1)
        result["cpu_share"] = round(cpu / duration, 2)
        result["other_cpu"] = round(max(0.0, other) / elapsed, 2)
        result["steal"] = round((machine_cpu(steal=True) - steal_before) / elapsed, 2)
    return result


# --- the report --------------------------------------------------------------------------------------


def summarize(rounds: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for name, runs in rounds.items():
        summary[name] = {
            "rps": round(statistics.median(r["rps"] for r in runs), 1),
            "p50_ms": round(statistics.median(r["p50_ms"] for r in runs), 3),
            "p99_ms": round(statistics.median(r["p99_ms"] for r in runs), 3),
            "rounds_rps": [round(r["rps"]) for r in runs],
            "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in runs),
            "socket_errors": sum(sum(r["socket_errors"].values()) for r in runs),
            "requests": sum(r.get("requests", 0) for r in runs),
        }
        cpu = [r["cpu_us_per_request"] for r in runs if "cpu_us_per_request" in r]
        if cpu:
            summary[name]["cpu_us_per_request"] = round(statistics.median(cpu), 1)
            summary[name]["other_cpu_max"] = max(r.get("other_cpu", 0.0) for r in runs)
            summary[name]["steal_max"] = max(r.get("steal", 0.0) for r in runs)
    base = summary.get("nginx")
    for row in summary.values():
        if base:
            row["rps_ratio"] = paired_ratio(row, base)
            row["p99_ratio"] = round(row["p99_ms"] / base["p99_ms"], 3)
    return summary


def table(summary: dict[str, dict[str, Any]]) -> str:
    header = (
        f"{'target':<16}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'rps/nginx':>11}{'p99/nginx':>11}"
        f"{'cpu us/req':>12}{'non-2xx':>9}{'sock err':>10}  rounds (req/s)"
    )
    lines = [header, "-" * len(header)]
    for name, row in summary.items():
        ratio = f"{row['rps_ratio']:.2f}x" if "rps_ratio" in row else "-"
        p99 = f"{row['p99_ratio']:.2f}x" if "p99_ratio" in row else "-"
        lines.append(
            f"{name:<16}{row['rps']:>10,.0f}{row['p50_ms']:>9.2f}{row['p99_ms']:>9.2f}{ratio:>11}{p99:>11}"
            f"{row.get('cpu_us_per_request', 0):>12.0f}{row['non_2xx_3xx']:>9}{row['socket_errors']:>10}  "
            + ", ".join(f"{r:,}" for r in row["rounds_rps"])
        )
    return "\n".join(lines)


def gateway_problems(proc: Proc, access_log: Path) -> dict[str, Any]:
    """What the gateway said besides serving: warnings, errors, tracebacks, and its access-log statuses."""
    text = proc.output.read_text(errors="replace") if proc.output.exists() else ""
    noteworthy = [
        line
        for line in text.splitlines()
        if re.search(r"WARNING|ERROR|CRITICAL|Traceback|Exception|Error:", line)
    ]
    statuses: Counter[str] = Counter()
    lines = 0
    if access_log.exists():
        with access_log.open(encoding="utf-8", errors="replace") as stream:
            for line in stream:
                lines += 1
                try:
                    statuses[str(json.loads(line).get("status"))] += 1
                except ValueError:
                    statuses["unparsable"] += 1
    return {
        "alive_at_end": proc.alive(),
        "exit_code": proc.process.returncode,
        "log_lines_noteworthy": len(noteworthy),
        "log_noteworthy_first": noteworthy[:20],
        "access_log_lines": lines,
        "access_log_statuses": dict(statuses.most_common()),
    }


@contextlib.contextmanager
def workspace(keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="frontdoor-bench-"))
    try:
        yield path
    finally:
        if keep:
            log(f"kept the logs and configs in {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def run(args: argparse.Namespace) -> int:
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        raise SystemExit(f"bench: unknown targets {sorted(unknown)}; choose among {', '.join(TARGETS)}")
    nginx, wrk = ensure_tools()
    nofile = raise_nofile()
    versions = tool_versions(nginx, wrk)
    log(f"{versions.get('nginx')}, {versions.get('wrk')}, open-file limit {nofile}, cpu {cpu_model()}")
    started_at = datetime.datetime.now(datetime.UTC)
    args.busy_at_start = machine_busy()
    if args.busy_at_start > 0.15:
        log(f"warning: {args.busy_at_start:.0%} of the CPU is busy before the benchmark; the numbers suffer")
    with workspace(args.keep) as workdir:
        procs = Processes(workdir)
        try:
            return _run(args, targets, nginx, wrk, nofile, versions, started_at, workdir, procs)
        finally:
            procs.stop_all()


def _run(
    args: argparse.Namespace,
    targets: list[str],
    nginx: str,
    wrk: str,
    nofile: int,
    versions: dict[str, str],
    started_at: datetime.datetime,
    workdir: Path,
    procs: Processes,
) -> int:
    upstream_port = free_port()
    static_conf = nginx_conf(
        workdir,
        "upstream",
        nginx,
        nofile=nofile,
        worker_connections=4096,
        server=f"""server {{
                listen 127.0.0.1:{upstream_port} backlog=4096;
                location / {{ default_type text/plain; return 200 "{UPSTREAM_BODY.strip()}\\n"; }}
            }}""",
    )
    upstream = start_nginx(procs, nginx, "upstream", static_conf, upstream_port, workdir)
    servers: dict[str, Proc] = {"upstream": upstream}

    nginx_access = "off" if args.nginx_access_log == "off" else f"{workdir}/nginx-access.log"
    if "nginx" in targets:
        port = free_port()
        proxy_conf = nginx_conf(
            workdir,
            "nginx",
            nginx,
            nofile=nofile,
            worker_connections=max(1024, nofile - 64),
            access_log=nginx_access,
            workers=args.workers,
            upstream=f"upstream static {{ server 127.0.0.1:{upstream_port}; keepalive 64; "
            "keepalive_requests 1000000; }",
            server=f"""server {{
                listen 127.0.0.1:{port} backlog=4096;
                location / {{
                    proxy_pass http://static;
                    proxy_http_version 1.1;
                    proxy_set_header Connection "";
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                    proxy_set_header X-Forwarded-Proto $scheme;
                    proxy_set_header X-Forwarded-Host $host;
                    proxy_set_header X-Request-Id $request_id;
                }}
            }}""",
        )
        servers["nginx"] = start_nginx(procs, nginx, "nginx", proxy_conf, port, workdir)

    access_log = workdir / "frontdoor-access.log"
    wrk_request: dict[str, tuple[str, tuple[str, ...]]] = {}  # a target's path and headers, if not PATH
    if "frontdoor" in targets or "frontdoor-token" in targets or "frontdoor-ratelimit" in targets:
        port, admin = free_port(), free_port()
        issuer = TokenIssuer(procs, workdir)
        contract = write_contract(workdir / "contract", port, admin, upstream_port, issuer.identity())
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        launcher = [args.frontdoor] if args.frontdoor else frontdoor_argv()
        if args.frontdoor_src:  # another tree's code (a worktree of another commit, say) with this venv
            launcher = [sys.executable, "-m", "frontdoor"]
            env["PYTHONPATH"] = str(Path(args.frontdoor_src).resolve())
        argv = [*launcher, "serve", str(contract), "--env", "bench", "--access-log", str(access_log)]
        if args.workers > 1:  # as many as nginx's: the same ratio as one worker each is the goal
            argv += ["--workers", str(args.workers)]
        proc = procs.start("frontdoor", argv, port, "/readyz", ready_port=admin, env=env)
        if http_get(port, PATH) != 200:
            raise RuntimeError(f"frontdoor does not answer 200 on {PATH}:\n{proc.tail()}")
        if "frontdoor" in targets:
            servers["frontdoor"] = proc
        if "frontdoor-token" in targets:
            wrk_request["frontdoor-token"] = (TOKEN_PATH, (issuer.header,))
            if http_get(port, TOKEN_PATH, headers={"Authorization": f"Bearer {issuer.token}"}) != 200:
                raise RuntimeError(
                    f"frontdoor does not answer 200 on {TOKEN_PATH} with a token:\n{proc.tail()}"
                )
            servers["frontdoor-token"] = proc
        if "frontdoor-ratelimit" in targets:
            wrk_request["frontdoor-ratelimit"] = (LIMITED_PATH, ())
            expect_rate_limited(proc, LIMITED_PATH)
            servers["frontdoor-ratelimit"] = proc
    servers.update(
        start_protection_targets(procs, targets, workdir, upstream_port, args.frontdoor_src, args.frontdoor)
    )

    if "aiohttp" in targets:
        port = free_port()
        argv = [sys.executable, __file__, "naive-proxy", str(port), f"http://127.0.0.1:{upstream_port}"]
        servers["aiohttp"] = procs.start("aiohttp", argv, port, PATH)

    for proc in {id(p): p for p in servers.values()}.values():
        log(f"{proc.name}: pid {proc.pid} on 127.0.0.1:{proc.port}, open-file limit {nofile_of(proc.pid)}")

    log(f"warm-up: {args.warmup:g}s each")
    for name in targets:
        path, headers = wrk_request.get(name, (PATH, ()))
        run_wrk(
            wrk, servers[name].port, args.warmup, args.connections, args.threads, path=path, headers=headers
        )

    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
    for index in range(args.rounds):
        order = targets[index % len(targets) :] + targets[: index % len(targets)]  # who goes first rotates
        for name in order:
            server = servers[name]
            helpers = servers["upstream"].serving_pids() if name != "upstream" else []
            result = run_wrk(
                wrk,
                server.port,
                args.duration,
                args.connections,
                args.threads,
                server.serving_pids(),
                helpers,
                *wrk_request.get(name, (PATH, ())),
            )
            rounds[name].append(result)
            log(
                f"round {index + 1}/{args.rounds} {name:<15} {result['rps']:>10,.0f} req/s  "
                f"p50 {result['p50_ms']:.2f} ms  p99 {result['p99_ms']:.2f} ms  "
                f"cpu {result.get('cpu_us_per_request', 0):.0f} us/req  "
                f"non-2xx {result['non_2xx_3xx']}  socket errors {sum(result['socket_errors'].values())}  "
                f"other cpu {result.get('other_cpu', 0):.2f}  steal {result.get('steal', 0):.2f}"
            )
            for proc in servers.values():
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} died during the run:\n{proc.tail()}")

    summary = summarize(rounds)

    def run_named(name: str) -> dict[str, Any]:
        server = servers[name]
        return run_wrk(
            wrk,
            server.port,
            args.pair_duration,
            args.connections,
            args.threads,
            server.serving_pids(),
            servers["upstream"].serving_pids() if "upstream" in servers else [],
            *wrk_request.get(name, (PATH, ())),
        )

    interleaving: dict[str, Any] = {}
    for base, other in INTERLEAVED_PAIRS if args.pairs else ():
        if base in servers and other in servers:
            log(f"interleaved: {other} against {base}, {args.pairs} pairs of {args.pair_duration:g}s runs")
            found = interleaved(run_named, base, other, args.pairs)
            interleaving[other] = found
            log(f"interleaved: {other}/{base} {found['rps_ratio']:.3f} (pairs {found['pair_ratios']})")
    idle: dict[str, Any] = {}
    if not args.skip_idle:
        if "frontdoor" in servers:
            log(f"holding {args.idle:,} idle keep-alive connections to frontdoor")
            idle["frontdoor"] = measure_idle(
                servers["frontdoor"],
                {"gateway": servers["frontdoor"].pid},
                args.idle,
                not args.idle_no_request,
                args.settle,
            )
        if "nginx" in servers:
            workers = children_of(servers["nginx"].pid)
            log(f"holding {args.idle:,} idle keep-alive connections to nginx")
            pids = (
                {"worker": workers[0], "master": servers["nginx"].pid}
                if workers
                else {"master": servers["nginx"].pid}
            )
            idle["nginx"] = measure_idle(
                servers["nginx"], pids, args.idle, not args.idle_no_request, args.settle
            )

    gateway_proc = servers.get("frontdoor") or servers.get("frontdoor-token")
    gateway = gateway_problems(gateway_proc, access_log) if gateway_proc is not None else {}
    if "frontdoor" in summary and "frontdoor-token" in summary:
        summary["frontdoor-token"]["vs_public"] = paired_ratio(
            summary["frontdoor-token"], summary["frontdoor"]
        )
    report: dict[str, Any] = {
        "date": started_at.isoformat(timespec="seconds"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "kernel": platform.release(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "cpu_busy_before_start": args.busy_at_start,
        },
        "versions": versions,
        "code": {
            **git_state(Path(args.frontdoor_src).resolve().parent if args.frontdoor_src else ROOT),
            "frontdoor_src": str(Path(args.frontdoor_src).resolve()) if args.frontdoor_src else "installed",
            "frontdoor_build": build_of(args.frontdoor),
        },
        "setup": {
            "wrk": f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s --latency (after "
            f"{args.warmup:g}s warm-up each), {args.rounds} rounds, order rotated each round",
            "path": PATH,
            "upstream": "nginx, 1 worker, return 200 with a fixed body of "
            f"{len(UPSTREAM_BODY)} bytes, keepalive_requests 1000000",
            "nginx": "1 worker, upstream block with keepalive 64, proxy_http_version 1.1, "
            'Connection "", X-Forwarded-For/-Proto/-Host and X-Request-Id set, keepalive_requests '
            f"1000000, access_log {'off' if nginx_access == 'off' else 'to a file (combined format)'}",
            "frontdoor": f"frontdoor serve ({build_of(args.frontdoor)}), one process, access log to a "
            "file, timeouts header 60s idle 120s",
            "frontdoor-token": f"the same gateway on {TOKEN_PATH}, a route needing the scope bench:read: "
            "one RS256 token (2048-bit key, JWKS served by the benchmark), verified once, then cached",
            "aiohttp": "aiohttp.web + one ClientSession, default asyncio loop, no access log",
            "open_file_limit": nofile,
        },
        "results": summary,
        "rounds": rounds,
        "idle": idle,
        "frontdoor": gateway,
        "goals": GOALS,
        "protection": protection_ratios(summary),
        "interleaved": interleaving,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"frontdoor vs nginx, {cpu_model()} ({os.cpu_count()} cores), {report['date']}")
    print(f"{report['setup']['wrk']}; medians")
    print(table(summary))
    noisy = max((row.get("other_cpu_max", 0.0) for row in summary.values()), default=0.0)
    steal = max((row.get("steal_max", 0.0) for row in summary.values()), default=0.0)
    if noisy > 0.15 or steal > 0.15:
        print(
            f"warning: other processes took up to {noisy:.2f} cores and the hypervisor up to {steal:.2f} "
            "(steal) during a run: req/s and latency are noisy; cpu us/req is the steadier comparison"
        )
    for name, entry in idle.items():
        print(
            f"idle {name}: {entry['opened']:,} of {entry['connections']:,} connections opened, "
            f"{entry['open_after_settle']:,} still open after {args.settle:g}s; RSS "
            + ", ".join(
                f"{k} {entry['rss_before_mib'][k]} -> {v} MiB "
                f"({entry['rss_added_kib_per_connection'][k]} KiB/conn)"
                for k, v in entry["rss_with_idle_mib"].items()
            )
            + f"; responses {entry['responses']}"
        )
    if gateway:
        print(
            f"frontdoor: {gateway['access_log_lines']:,} access-log lines, statuses "
            f"{gateway['access_log_statuses']}; {gateway['log_lines_noteworthy']} warning/error lines in its "
            "output" + ("" if gateway["alive_at_end"] else f"; EXITED with {gateway['exit_code']}")
        )
        for line in gateway["log_noteworthy_first"][:5]:
            print(f"  {line}")
    if "frontdoor" in summary and "rps_ratio" in summary["frontdoor"]:
        row = summary["frontdoor"]
        verdict = (
            "meets"
            if row["rps_ratio"] >= GOALS["rps_ratio_min"]
            else "below the goal of"
            if row["rps_ratio"] >= GOALS["rps_ratio_not_done_below"]
            else "far below (not done under 0.4x) the goal of"
        )
        print(
            f"frontdoor: {row['rps_ratio']:.2f}x nginx req/s {verdict} {GOALS['rps_ratio_min']}x; "
            f"p99 {row['p99_ratio']:.2f}x nginx's (goal <= {GOALS['p99_ratio_max']}x)"
        )
    for line in protection_lines(report["protection"]):
        print(line)
    for other, found in interleaving.items():
        goal = INTERLEAVED_GOALS.get(other)
        verdict = f"; goal >= {goal}x: {'met' if found['rps_ratio'] >= goal else 'NOT met'}" if goal else ""
        print(
            f"interleaved, {found['pairs']} pairs of {args.pair_duration:g}s runs: {other} "
            f"{found['rps_ratio']:.2f}x {found['base']}'s req/s (cpu per request "
            f"{found['cpu_ratio'] or 0:.2f}x){verdict}"
        )
    if "vs_public" in summary.get("frontdoor-token", {}):
        ratio = summary["frontdoor-token"]["vs_public"]
        goal = GOALS["token_vs_public_rps_min"]
        print(
            f"frontdoor-token: {ratio:.2f}x the public route's req/s "
            f"({'meets' if ratio >= goal else 'below'} the goal of {goal}x)"
        )
    print(f"written to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds over every target (default 5)")
    parser.add_argument(
        "--pairs",
        type=int,
        default=6,
        help="pairs of interleaved runs for the comparisons that matter (default 6; 0: none)",
    )
    parser.add_argument(
        "--pair-duration", type=float, default=3.0, help="seconds per interleaved run (default 3)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes of the front nginx and of frontdoor's public and token routes "
        "(default 1; the rate-limit targets keep one)",
    )
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per target (default 2)")
    parser.add_argument(
        "--targets", default=",".join(TARGETS), help=f"comma-separated, of {', '.join(TARGETS)}"
    )
    parser.add_argument("--skip-idle", action="store_true", help="skip the 10,000 idle connections")
    parser.add_argument("--idle", type=int, default=10_000, help="idle connections to hold (default 10000)")
    parser.add_argument("--idle-no-request", action="store_true", help="send no request on the idle ones")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to hold them before reading RSS")
    parser.add_argument(
        "--nginx-access-log",
        choices=("file", "off"),
        default="file",
        help="nginx's access log: to a file like frontdoor's (default) or off",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory with all logs")
    parser.add_argument(
        "--out", default=str(RESULTS), help="the JSON results (default bench/results/latest.json)"
    )
    parser.add_argument(
        "--frontdoor",
        metavar="BIN",
        help="the frontdoor executable to measure (make bench: the mypyc-compiled build's)",
    )
    parser.add_argument(
        "--frontdoor-src",
        metavar="DIR",
        help="benchmark the frontdoor package in DIR (a src/ folder) instead",
    )
    sub = parser.add_subparsers(dest="helper")
    naive = sub.add_parser("naive-proxy", help=argparse.SUPPRESS)
    naive.add_argument("port", type=int)
    naive.add_argument("upstream")
    idle = sub.add_parser("idle-clients", help=argparse.SUPPRESS)
    idle.add_argument("port", type=int)
    idle.add_argument("count", type=int)
    idle.add_argument("--no-request", action="store_true")
    idle.add_argument("--batch", type=int, default=250)
    idle.add_argument("--hold", type=float, default=120.0)
    args = parser.parse_args(argv)
    if args.helper == "naive-proxy":
        run_naive_proxy(args.port, args.upstream)
        return 0
    if args.helper == "idle-clients":
        run_idle_clients(args.port, args.count, not args.no_request, args.batch, args.hold)
        return 0

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop every process

    signal.signal(signal.SIGTERM, terminate)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
