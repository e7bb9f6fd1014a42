"""The real ingresses of the matrix: nginx (docs/authz.md's auth_request configuration, and the rendered
``nginx.conf``) and Caddy (``forward_auth``, the ForwardAuth protocol of Traefik), each a subprocess on
a free loopback port, started without waiting and stopped by its own process id."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from ..test_authz_nginx import CONFIG as AUTH_REQUEST_CONFIG
from .contract import MAX_BODY, MAX_HEADER_BYTES

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
CADDY = shutil.which("caddy") or ("/usr/bin/caddy" if Path("/usr/bin/caddy").exists() else None)

# Caddy's forward_auth sends X-Forwarded-Method and -Uri, its reverse proxy X-Forwarded-Host and -For
# (believed from the trusted proxy only: `trusted_proxies`, a reverse_proxy option in Caddy 2.6): the Traefik dialect. The limits are the contract's, as an
# operator running `frontdoor authz` behind Caddy sets them (authz never sees a body).
CADDYFILE = """{{
	admin off
	auto_https off
	servers {{
		max_header_size {max_header}
	}}
}}
http://:{port} {{
	bind 127.0.0.1
	request_body {{
		max_size {max_body}
	}}
	forward_auth 127.0.0.1:{authz} {{
		uri /auth
		trusted_proxies 127.0.0.1/32
		copy_headers X-Frontdoor-Subject X-Frontdoor-Scopes X-Frontdoor-Client X-Frontdoor-Issuer
	}}
	reverse_proxy 127.0.0.1:{upstream} {{
		trusted_proxies 127.0.0.1/32
	}}
}}
"""


def auth_request_conf(root: Path, port: int, authz: int, upstream: int) -> Path:
    """docs/authz.md's nginx configuration (the one tests/test_authz_nginx.py runs), with the
    contract's body and header limits set, as an operator sets them (authz never sees a body), and
    nginx's answer to a too large header made serve's 431."""
    text = AUTH_REQUEST_CONFIG.format(root=root, authz=authz, port=port, upstream=upstream)
    limits = f"    client_max_body_size {MAX_BODY};\n    large_client_header_buffers 4 {MAX_HEADER_BYTES};\n"
    text = text.replace("    server {\n", limits + "    server {\n", 1)
    # nginx's own "header too large" (494, sent as 400) as serve answers it
    too_large = "        error_page 494 =431 @too_large;\n        location @too_large { return 431; }\n"
    text = text.replace("        location / {\n", too_large + "        location / {\n", 1)
    conf = root / "nginx.conf"
    conf.write_text(text)
    return conf


def start_nginx(root: Path, conf: Path, *, own_pid: bool) -> subprocess.Popen[bytes]:
    """nginx in the foreground; ``own_pid``: the configuration does not name a pid file itself."""
    assert NGINX is not None
    directives = "daemon off;" + (f" pid {root}/nginx.pid;" if own_pid else "")
    with open(root / "nginx.out", "wb") as out:
        return subprocess.Popen(
            [NGINX, "-p", str(root), "-c", str(conf), "-e", "stderr", "-g", directives],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def start_caddy(root: Path, port: int, authz: int, upstream: int) -> subprocess.Popen[bytes]:
    assert CADDY is not None
    root.mkdir(parents=True, exist_ok=True)
    caddyfile = root / "Caddyfile"
    caddyfile.write_text(
        CADDYFILE.format(
            port=port, authz=authz, upstream=upstream, max_body=MAX_BODY, max_header=MAX_HEADER_BYTES
        )
    )
    env = {"HOME": str(root), "XDG_DATA_HOME": str(root / "data"), "XDG_CONFIG_HOME": str(root / "config")}
    with open(root / "caddy.out", "wb") as out:
        return subprocess.Popen(
            [CADDY, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def wait_listening(process: subprocess.Popen[bytes], port: int, log: Path, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited: {log.read_text(errors='replace')}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on {port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
