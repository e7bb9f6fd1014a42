"""The README's and docs' examples do what they say: the `serve` block starts clean, the demo runs on
any port and every command it prints works as printed (and matches the README's), and the CI output
examples of docs/cli.md are what `check` prints."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, SHOP, edit

FRONTDOOR = Path(sys.executable).with_name("frontdoor")
README = (ROOT / "README.md").read_text()
CLI_DOC = (ROOT / "docs" / "cli.md").read_text()


def _block_after(text: str, marker: str) -> str:
    """The first fenced block after ``marker``."""
    start = text.index("```", text.index(marker))
    body_start = text.index("\n", start) + 1
    return text[body_start : text.index("```", body_start)]


def _block_with(text: str, marker: str) -> str:
    """The fenced block that holds ``marker``."""
    at = text.index(marker)
    body_start = text.index("\n", text.rindex("```", 0, at)) + 1
    return text[body_start : text.index("```", at)]


def _free_base(count: int) -> int:
    """A port with ``count`` free ports from it (bound and released: free when checked)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
        return base
    raise AssertionError("no run of free ports")


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_SHA256") and k != "FRONTDOOR_ADMIN_TOKEN"}
    env["FRONTDOOR_STATE_DIR"] = str(state)
    env["PATH"] = f"{FRONTDOOR.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# --- the demo on any port ----------------------------------------------------------------------------


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    base = _free_base(7)  # gateway, admin, identity provider, four upstreams
    env = _env(tmp_path / "state")
    process = subprocess.Popen(
        [str(FRONTDOOR), "demo", "examples/shop", "--port-base", str(base), "--access-log", "off"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    printed: list[str] = []
    assert process.stderr is not None
    try:
        for line in process.stderr:  # until the demo has printed everything to try
            printed.append(line.rstrip("\n"))
            if line.startswith("Dashboard:"):
                break
        else:
            raise AssertionError("the demo stopped:\n" + "\n".join(printed))
        yield base, printed, env
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=30)
    assert not (tmp_path / "state" / "idp" / "running.json").exists()  # withdrawn on the way out


def _status(output: str) -> int:
    match = re.search(r"^HTTP/1\.1 (\d{3})", output, re.M)
    assert match, output
    return int(match.group(1))


def test_every_command_the_demo_prints_works_as_printed(demo: tuple[int, list[str], dict[str, str]]) -> None:
    base, printed, env = demo
    commands = [line.strip() for line in printed if line.startswith(("  curl ", "  frontdoor "))]
    assert len(commands) >= 8, printed
    assert all(f"127.0.0.1:{base}" in c or f"127.0.0.1:{base + 1}" in c for c in commands), commands
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, (command, done.stderr)
        if command.startswith("frontdoor who"):
            assert "route      GET /orders" in done.stdout, done.stdout
            continue
        comment = command.partition("#")[2]
        expected = re.match(r"\s*(\d{3})", comment)
        assert _status(done.stdout) == (int(expected.group(1)) if expected else 200), (command, done.stdout)


def test_the_readme_demo_commands_are_the_ones_printed(demo: tuple[int, list[str], dict[str, str]]) -> None:
    """The README shows the demo on its default ports: moved to the test's ports, each of its lines is
    one the demo prints."""
    base, printed, _ = demo
    moves = {"8080": base, "9901": base + 1, "9400": base + 2}
    shown = _block_with(README, "$ .venv/bin/frontdoor demo")
    lines = [line for line in shown.splitlines() if line.startswith(("  curl", "Local identity provider"))]
    assert len(lines) >= 5
    for line in lines:
        moved = re.sub(r"127\.0\.0\.1:(8080|9901|9400)\b", lambda m: f"127.0.0.1:{moves[m.group(1)]}", line)
        assert moved in printed, (moved, printed)


def test_token_finds_the_running_issuer_and_issuer_overrides(
    demo: tuple[int, list[str], dict[str, str]],
) -> None:
    import jwt

    base, _, env = demo
    run = [str(FRONTDOOR), "token", "--sub", "alice"]
    token = subprocess.run(run, env=env, capture_output=True, text=True, check=True).stdout.strip()
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == f"http://127.0.0.1:{base + 2}/" and claims["aud"] in ("shop-api", ["shop-api"])
    other = subprocess.run(
        [*run, "--issuer", "https://login.example.com/"], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert jwt.decode(other, options={"verify_signature": False})["iss"] == "https://login.example.com/"


# --- the README's serve block ------------------------------------------------------------------------


def _commands_of(block: str) -> list[str]:
    return [line[2:] for line in block.splitlines() if line.startswith("$ ")]


@pytest.mark.skipif(
    shutil.which("unshare") is None or os.geteuid() != 0,
    reason="needs root and unshare for a network namespace",
)
def test_the_readme_serve_example_starts_clean(tmp_path: Path) -> None:
    """Run as written, on its own ports 8080, 9901 and 9400: in a network namespace of its own, so that
    nothing else on the machine is in the way. No error and no warning as it starts."""
    block = _block_after(README, "### `frontdoor serve")
    commands = _commands_of(block)
    start = next(i for i, c in enumerate(commands) if " serve " in c)
    setup, serve_line = commands[: start + 1], commands[start]
    assert any("FRONTDOOR_ADMIN_TOKEN" in c for c in setup)
    access_log = tmp_path / "access.log"
    script = "\n".join(
        [
            "set -e",
            "ip link set lo up",
            *[c.replace(".venv/bin/frontdoor", str(FRONTDOOR)) for c in setup[:-1]],
            # as a person typing the next line would: the identity provider is up before serve starts
            "until curl -sf http://127.0.0.1:9400/keys >/dev/null; do sleep 0.1; done",
            serve_line.replace(".venv/bin/frontdoor", str(FRONTDOOR)).replace(
                "/tmp/access.log", str(access_log)
            )
            + " &",
            "serve=$!",
            # waiting for readiness is not a timed assertion: the wait ends when the gateway answers
            "until curl -sf http://127.0.0.1:9901/readyz >/dev/null; do",
            "  kill -0 $serve 2>/dev/null || exit 3; sleep 0.1",
            "done",
            "curl -s http://127.0.0.1:9901/readyz",
            "echo; echo ---",
            "curl -s http://127.0.0.1:8080/catalog",
            "kill -TERM $serve; wait $serve",
            "kill %1; wait %1 || true",  # the identity provider the block starts first
        ]
    )
    work = Path(tempfile.mkdtemp(dir=tmp_path))
    (work / "examples").symlink_to(ROOT / "examples")
    done = subprocess.run(
        ["unshare", "-n", "bash", "-c", script],
        cwd=work,
        env=_env(tmp_path / "state"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert " ERROR " not in done.stderr and " WARNING " not in done.stderr, done.stderr
    assert "listening on 127.0.0.1:8080" in done.stderr
    ready, catalog = (json.loads(part) for part in done.stdout.split("\n---\n"))
    shown = {
        line.split(" ", 3)[-1].split("  ")[0]: json.loads(answer)
        for line, answer in zip(block.splitlines(), block.splitlines()[1:], strict=False)
        if line.startswith("$ curl")
    }
    assert ready == shown["http://127.0.0.1:9901/readyz"]
    expected = shown["http://127.0.0.1:8080/catalog"]
    assert {k: catalog[k] for k in ("status", "error", "reason", "owner")} == {
        k: expected[k] for k in ("status", "error", "reason", "owner")
    }  # as the README says: nothing listens on the dev upstreams yet


# --- docs/cli.md's examples --------------------------------------------------------------------------


def test_the_github_example_of_docs_cli_is_what_check_prints(tmp_path: Path) -> None:
    contract = tmp_path / "contract"
    shutil.copytree(SHOP, contract)
    edit(contract, "edges/public.yaml", "    metrics: {path: /metrics}\n", "")
    block = _block_with(CLI_DOC, "$ frontdoor check contract --env prod --format github")
    command, *expected = block.strip().splitlines()
    done = subprocess.run(
        [str(FRONTDOOR), *command.removeprefix("$ frontdoor ").split()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and done.stdout.splitlines() == expected


def test_the_who_example_of_docs_cli_is_what_who_prints() -> None:
    block = _block_with(
        CLI_DOC, "$ frontdoor who examples/shop --env prod GET https://shop.example.com:99999"
    )
    command, expected = block.strip().splitlines()
    done = subprocess.run(
        [str(FRONTDOOR), *command.removeprefix("$ frontdoor ").split()],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.strip() == expected


# --- the README's transcripts of check, who, diff and render -----------------------------------------


def _transcripts(text: str) -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) for every ``$ .venv/bin/frontdoor ...`` line of a block."""
    found: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        current: tuple[str, list[str]] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = (line[2:], [])
                found.append(current)
            elif current is not None:
                current[1].append(line)
    return found


def _normal(line: str) -> str:
    """A line as compared: no trailing blanks, and a rule's dashes (as wide as the terminal) trimmed."""
    return line.rstrip().strip("─ ") if "─" in line and "┃" not in line else line.rstrip()


DETERMINISTIC = re.compile(r"^\.venv/bin/frontdoor (check|who|diff|render) [^>&|]*$")


@pytest.mark.parametrize(
    ("command", "shown"),
    [(c, s) for c, s in _transcripts(README) if DETERMINISTIC.match(c)],
    ids=[c[:70] for c, _ in _transcripts(README) if DETERMINISTIC.match(c)],
)
def test_the_readme_transcripts_are_what_the_commands_print(
    command: str, shown: list[str], tmp_path: Path
) -> None:
    """Each line the README shows (but "..." elisions) is printed, in that order."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    argv = [str(FRONTDOOR), *command.split()[1:]]
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    actual = [_normal(line) for line in (done.stdout + done.stderr).splitlines()]
    position = 0
    for line in shown:
        if line.strip() in ("", "...") or line.strip().startswith("..."):
            continue
        want = _normal(line)
        assert want in actual[position:], f"not printed (or not in this order): {want!r}\n{done.stdout}"
        position = actual.index(want, position) + 1


def test_a_person_signs_in_through_the_demo(demo: tuple[int, list[str], dict[str, str]]) -> None:
    """What the demo prints for browsers works in one: Chromium opens the page behind sign-in, signs in
    at the demo's own identity provider, sees the page, and signs out."""
    from .oidc_support import CHROMIUM, browser

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    base, printed, _ = demo
    (line,) = [line for line in printed if line.startswith("  open ")]
    page_url = line.split()[1]
    assert page_url == f"http://127.0.0.1:{base}/account"
    with browser() as chromium:
        page = chromium.new_page()
        page.goto(page_url)
        assert page.url.startswith(f"http://127.0.0.1:{base + 2}/authorize?")  # the demo's provider
        page.fill('input[name="username"]', "dana")
        page.click('button[type="submit"]')
        page.wait_for_load_state()
        assert page.url == page_url
        # the demo upstream's page for a browser (demo/accountpage.py): who the gateway said signed in
        assert page.inner_text("h1") == "Hello, dana"
        assert "dana@example.test" in page.inner_text("#who")
        cookies = {
            c["name"]: c["value"] for c in page.context.cookies() if c["name"].startswith("frontdoor-")
        }
        script = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    page_url,
                    headers={
                        "Accept": "application/json",
                        "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items()),
                    },
                ),
                timeout=10,
            ).read()
        )
        assert script["headers"]["x-frontdoor-subject"] == "dana"  # a script gets the JSON echo still
        page.click("#sign-out")  # the page's own link to /_frontdoor/logout
        page.wait_for_load_state()
        assert not [c for c in page.context.cookies() if c["name"].startswith("frontdoor-")]
        page.goto(page_url)  # signed out: to the provider's form again
        assert page.url.startswith(f"http://127.0.0.1:{base + 2}/authorize?")
