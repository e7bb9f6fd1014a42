"""A screenshot of the admin dashboard under the demo's traffic (docs/images/dashboard.png).

Starts ``frontdoor demo`` (the example's dev environment) on ports of its own, sends it a minute or so
of mixed traffic whose rate rises and falls (public reads, requests without a token, API clients,
unmatched paths, and for the last 15 seconds one client flooding the catalog past its rate limit),
then opens the dashboard in Debian's Chromium with Playwright and saves a PNG of the charts by team
and service, the top deny reasons and the top clients being limited.

    .venv/bin/python -m bench.dashboard_screenshot [--out docs/images/dashboard.png] [--seconds 70]
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAILING_S = 15.0  # traffic that goes on while the page is opened and photographed
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN_TOKEN = "demo-admin-token"  # what `frontdoor demo` gives an unset admin token (demo/run.py)
PAYMENT_KEY = "demo-payment-provider-key"  # and the API clients' keys
BILLING_KEY = "demo-billing-batch-key"

#: (method, path, headers): one round of the demo's traffic, several services and owners
ROUND: list[tuple[str, str, dict[str, str]]] = [
    ("GET", "/catalog/items/1", {}),
    ("GET", "/catalog/items/2", {}),
    ("GET", "/catalog/search?q=tea", {}),
    ("GET", "/orders/public-stats", {}),
    ("GET", "/orders/42", {}),  # no token: 401
    ("GET", "/orders/batch/run", {"X-Api-Key": BILLING_KEY}),
    ("POST", "/payments/webhook", {"X-Api-Key": PAYMENT_KEY}),
    ("POST", "/payments/webhook", {}),  # no key: 401
    ("GET", "/no-such-page", {}),  # no route: 404, the platform team's
]


class Client:
    """One keep-alive connection to the gateway, reopened when the gateway closes it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def send(self, method: str, path: str, headers: dict[str, str]) -> int:
        body = b"{}" if method == "POST" else None
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            return 0


def wait_ready(admin_port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the demo exited before it was ready")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("the demo did not become ready in 60 s")


def traffic(port: int, seconds: float, flood_after: float) -> None:
    """Rounds at a rate that swells and ebbs (so the charts have a shape), then from ``flood_after``
    seconds on a flood of the catalog from one address: past its 200-request burst, the rate limit
    refuses the rest (429)."""
    client = Client(port)
    start = time.monotonic()
    end = start + seconds
    flood_at = start + flood_after

    def flood() -> None:
        # about 150 requests/s each, two at once: over the 100/s limit, yet not so far over that the
        # flood flattens every other line of the edge's chart
        flooding = Client(port)
        while time.monotonic() < end:
            flooding.send("GET", "/catalog/items/7", {})
            time.sleep(1 / 150)

    flooders = [threading.Thread(target=flood) for _ in range(2)]
    flooding = False
    while (now := time.monotonic()) < end:
        if now >= flood_at and not flooding:
            flooding = True
            for thread in flooders:
                thread.start()
        rounds_per_s = 6 + 5 * math.sin((now - start) / 9)
        for method, path, headers in ROUND:
            client.send(method, path, headers)
        time.sleep(1 / rounds_per_s)
    for thread in flooders:
        if flooding:
            thread.join()


def screenshot(admin_port: int, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            page.goto(f"http://127.0.0.1:{admin_port}/")
            page.fill("#token", ADMIN_TOKEN)
            page.click("#save-token")
            page.locator('figure[data-chart="service:catalog"]').wait_for(timeout=20_000)
            page.locator('figure[data-chart="team:shop-app"] polygon[data-kind="rate-limit"]').wait_for(
                timeout=20_000
            )
            page.locator('#limited li[data-kind="address"]').wait_for(timeout=20_000)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=False)
        finally:
            browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "dashboard.png")
    parser.add_argument("--seconds", type=float, default=70.0, help="of traffic before the screenshot")
    parser.add_argument("--port-base", type=int, default=19300, help="the demo's ports (see frontdoor demo)")
    args = parser.parse_args()
    port, admin_port = args.port_base, args.port_base + 1
    command = [sys.executable, "-m", "frontdoor", "demo", str(ROOT / "examples" / "shop"), "--env", "dev"]
    demo = subprocess.Popen(
        [*command, "--port-base", str(port)],
        stdout=subprocess.DEVNULL,  # the access log: a line per request
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        wait_ready(admin_port, demo)
        # the screenshot is taken while the traffic still flows: taken after it, the step just sampled
        # would be an idle one, and every "now" on the page 0
        sending = threading.Thread(target=traffic, args=(port, args.seconds + TRAILING_S, args.seconds - 15))
        sending.start()
        try:
            time.sleep(args.seconds)
            screenshot(admin_port, args.out)
        finally:
            sending.join()
    finally:
        demo.send_signal(signal.SIGINT)
        try:
            demo.wait(20)
        except subprocess.TimeoutExpired:
            demo.kill()
    print(f"{args.out}: {args.out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
