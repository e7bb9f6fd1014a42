"""The integrated gateway against the friendly alternative: nginx with ``auth_request`` to ``frontdoor
authz``. Same static upstream (its own nginx), same contract, one process each, on 127.0.0.1.

Targets, each measured with wrk in turn (order rotated every round), on a public route and, once token
verification is in the pipeline, on a route that needs a token (a valid one, so cached after the
first request):

- ``frontdoor``: ``frontdoor serve``, access log to a file;
- ``nginx+authz``: nginx (1 worker, upstream keep-alive to both) asking ``frontdoor authz --dialect
  nginx`` (access log to a file) about every request, as docs/authz.md configures it;
- ``nginx``: nginx alone proxying, for scale.

The table gives the median req/s of the rounds and each target's ratio to ``nginx+authz`` (the goal:
the gateway >= 1.2x). Results go to ``bench/results/authz.json``.

    .venv/bin/python -m bench.authz [--duration 5] [--rounds 3] [--connections 50]   (from the project root)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from bench.gateway import (
    UPSTREAM_BODY,
    Processes,
    ensure_tools,
    free_port,
    frontdoor_argv,
    git_state,
    http_get,
    log,
    nginx_conf,
    paired_ratio,
    parse_wrk,
    raise_nofile,
    start_nginx,
)
from frontdoor.demo.documents import join, service, team

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "authz.json"
PUBLIC, SECURE = "/bench/ping", "/secure/ping"
TOKEN_ROUTES = importlib.util.find_spec("frontdoor.access") is not None


def write_contract(root: Path, port: int, admin: int, upstream: int, idp: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    routes = "- {path: /bench, access: public}\n- {path: /secure, access: authenticated}"
    edge = f"""
        apiVersion: frontdoor/v1
        kind: Edge
        metadata: {{name: edge, owner: edge}}
        spec:
          entrypoints:
            - {{name: bench, listen: "127.0.0.1:{port}", hosts: ["*"], services: ["*"]}}
          identity:
            providers:
              - {{name: local, issuer: "http://127.0.0.1:{idp}/", audiences: [bench], algorithms: [RS256]}}
          protection:
            timeouts: {{connect: 1s, header: 60s, upstream: 10s, idle: 120s}}
          observability: {{access_log: {{}}, metrics: {{}}, tracing: {{propagate: w3c}}}}
          admin: {{listen: "127.0.0.1:{admin}", operators: [edge]}}
    """
    environment = f"""
        apiVersion: frontdoor/v1
        kind: Environment
        metadata: {{name: bench, owner: delivery}}
        spec:
          upstreams:
            static: ["http://127.0.0.1:{upstream}"]
    """
    teams = join(team("bench", "app"), team("edge", "platform"), team("delivery", "delivery"))
    (root / "services.yaml").write_text(join(teams, service("static", "bench", routes)))
    (root / "edge.yaml").write_text(textwrap.dedent(edge))
    (root / "env.yaml").write_text(textwrap.dedent(environment))
    return root


def auth_server(port: int, upstream: int, authz: int) -> tuple[str, str]:
    """nginx's upstream blocks and server block: the configuration of docs/authz.md."""
    upstreams = (
        f"upstream static {{ server 127.0.0.1:{upstream}; keepalive 64; keepalive_requests 1000000; }}\n"
        f"upstream frontdoor_authz {{ server 127.0.0.1:{authz}; keepalive 64; keepalive_requests 1000000; }}"
    )
    server = f"""server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            auth_request /_frontdoor_auth;
            auth_request_set $frontdoor_subject $upstream_http_x_frontdoor_subject;
            auth_request_set $frontdoor_scopes  $upstream_http_x_frontdoor_scopes;
            auth_request_set $frontdoor_client  $upstream_http_x_frontdoor_client;
            auth_request_set $frontdoor_issuer  $upstream_http_x_frontdoor_issuer;
            proxy_set_header X-Frontdoor-Subject $frontdoor_subject;
            proxy_set_header X-Frontdoor-Scopes  $frontdoor_scopes;
            proxy_set_header X-Frontdoor-Client  $frontdoor_client;
            proxy_set_header X-Frontdoor-Issuer  $frontdoor_issuer;
            proxy_pass http://static;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
        location = /_frontdoor_auth {{
            internal;
            proxy_pass http://frontdoor_authz/auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Host $host;
            proxy_set_header X-Original-URI $request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}"""
    return upstreams, server


def wrk(binary: str, port: int, path: str, seconds: float, connections: int, token: str) -> dict[str, Any]:
    argv = [binary, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency", "--timeout", "5s"]
    if token:
        argv += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run(
        [*argv, f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse_wrk(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument(
        "--frontdoor",
        metavar="PATH",
        help="the frontdoor executable for serve and authz (e.g. the compiled build)",
    )
    args = parser.parse_args(argv)
    nginx, wrk_binary = ensure_tools()
    nofile = raise_nofile()
    with tempfile.TemporaryDirectory(prefix="frontdoor-authz-bench-") as temp:
        workdir = Path(temp)
        procs = Processes(workdir)
        try:
            return run(args, nginx, wrk_binary, nofile, workdir, procs)
        finally:
            procs.stop_all()


def run(
    args: argparse.Namespace, nginx: str, wrk_binary: str, nofile: int, workdir: Path, procs: Processes
) -> int:
    upstream = free_port()
    static = nginx_conf(
        workdir,
        "upstream",
        nginx,
        nofile=nofile,
        server=f"""server {{ listen 127.0.0.1:{upstream} backlog=4096;
            location / {{ default_type text/plain; return 200 "{UPSTREAM_BODY.strip()}\\n"; }} }}""",
    )
    start_nginx(procs, nginx, "upstream", static, upstream, workdir)
    state = workdir / "state"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "FRONTDOOR_STATE_DIR": str(state)}
    idp = free_port()
    procs.start("idp", [*frontdoor_argv(), "idp", "--listen", f"127.0.0.1:{idp}"], idp, "/keys", env=env)
    port, admin, authz = free_port(), free_port(), free_port()
    contract = write_contract(workdir / "contract", port, admin, upstream, idp)
    launcher = [args.frontdoor] if args.frontdoor else frontdoor_argv()
    serve = [*launcher, "serve", str(contract), "--env", "bench", "--access-log", str(workdir / "serve.log")]
    serve += ["--health-interval", "0"]
    targets = {"frontdoor": procs.start("frontdoor", serve, port, "/readyz", ready_port=admin, env=env).port}
    check = [*launcher, "authz", str(contract), "--env", "bench", "--listen", f"127.0.0.1:{authz}"]
    check += ["--dialect", "nginx", "--access-log", str(workdir / "authz.log")]
    procs.start("authz", check, authz, "/readyz", env=env)
    front = free_port()
    upstreams, server = auth_server(front, upstream, authz)
    conf = nginx_conf(workdir, "nginx-authz", nginx, nofile=nofile, upstream=upstreams, server=server)
    targets["nginx+authz"] = start_nginx(procs, nginx, "nginx-authz", conf, front, workdir).port
    plain = free_port()
    conf = nginx_conf(
        workdir,
        "nginx",
        nginx,
        nofile=nofile,
        upstream=upstreams.splitlines()[0],
        server=f"""server {{ listen 127.0.0.1:{plain} backlog=4096; location / {{
            proxy_pass http://static; proxy_http_version 1.1; proxy_set_header Connection ""; }} }}""",
    )
    targets["nginx"] = start_nginx(procs, nginx, "nginx", conf, plain, workdir).port

    routes = [("public", PUBLIC, "")]
    if TOKEN_ROUTES:
        token = subprocess.run(
            [*launcher, "token", "--sub", "bench", "--aud", "bench", "--issuer", f"http://127.0.0.1:{idp}/"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=30,
        ).stdout.strip()
        routes.append(("token", SECURE, token))
    else:
        log("token route skipped: the access stage is not in this tree")
    for name, target_port in targets.items():  # every target answers both routes before measuring
        assert http_get(target_port, PUBLIC) == 200, name
    results: dict[str, dict[str, Any]] = {}
    for route, path, token in routes:
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        for target_port in targets.values():
            wrk(wrk_binary, target_port, path, 1, args.connections, token)  # warm-up
        for index in range(args.rounds):
            names = list(targets)
            names = names[index % len(names) :] + names[: index % len(names)]
            for name in names:
                runs[name].append(
                    wrk(wrk_binary, targets[name], path, args.duration, args.connections, token)
                )
        summary = {
            name: {
                "rps": round(statistics.median(r["rps"] for r in rs), 1),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in rs), 3),
                "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in rs),
                "rounds_rps": [round(r["rps"]) for r in rs],
            }
            for name, rs in runs.items()
        }
        base = summary["nginx+authz"]
        for row in summary.values():
            # the median of the rounds' ratios: a round's targets ran seconds apart (bench/gateway.py)
            row["vs_nginx_authz"] = round(paired_ratio(row, base), 2)
        results[route] = summary
        log(f"{route} route ({path}), {args.connections} connections, {args.rounds} x {args.duration:g}s:")
        for name, row in summary.items():
            print(
                f"  {name:<12}{row['rps']:>10,.0f} req/s  p99 {row['p99_ms']:>7.2f} ms  "
                f"{row['vs_nginx_authz']:.2f}x nginx+authz  non-2xx {row['non_2xx_3xx']}  "
                f"rounds {row['rounds_rps']}"
            )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"git": git_state(ROOT), "args": vars(args), "results": results}, indent=2))
    log(f"written to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
