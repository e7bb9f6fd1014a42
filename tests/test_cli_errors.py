"""Every command, given bad input, fails the same way: a one-line message on standard error and exit 2
(1 stays "gaps" / "no route"), never a traceback. Usage errors are argparse's: standard error, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from frontdoor.cli import main
from frontdoor.clihelp import COMMANDS

from .conftest import SHOP

SECRETS = {
    "FRONTDOOR_ADMIN_TOKEN": "errors-test-token",
    "BILLING_BATCH_KEY_SHA256": "0" * 64,
    "PAYMENT_PROVIDER_KEY_SHA256": "1" * 64,
    "SHOP_WEB_CLIENT_SECRET": "errors-test-client-secret",
    "SHOP_SESSION_KEY": "errors-test-session-key-0123456789",
}


def run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code if isinstance(exit.code, int) else 2
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    """Paths that cannot be written, each for its own reason."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a directory\n")
    if os.geteuid() == 0:  # root writes through permission bits: sysfs refuses even root
        read_only = "/sys/frontdoor-cannot-write-here"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        read_only = str(locked / "out")
    return {"under-file": str(a_file / "out"), "read-only": read_only, "proc": "/proc/frontdoor/out"}


RENDER = ["render", str(SHOP), "--env", "test", "--target", "nginx", "--out"]
WHO = ["who", str(SHOP), "--env", "prod", "GET"]

# (argv, a piece of the one-line message); "{under-file}" and the like are filled from `places`
CASES: list[tuple[list[str], str]] = [
    ([*RENDER, "{under-file}"], "Not a directory"),
    ([*RENDER, "{read-only}"], "cannot write"),
    ([*RENDER, "{proc}"], "cannot write /proc/frontdoor"),
    (["render", str(SHOP), "--env", "prod", "--target", "helm", "--out", "{tmp}/x"], "unknown target"),
    ([*RENDER, "{tmp}/y", "--authz-trusted", "nope"], "--authz-trusted nope"),
    ([*WHO, "https://[::1/orders"], "not a URL"),
    ([*WHO, "https://shop.example.com:99999/orders"], "port 99999 is out of range 1-65535"),
    ([*WHO, "https://[::1]:70000/orders"], "port 70000 is out of range 1-65535"),
    ([*WHO, "https://shop.example.com:0/orders"], "port 0 is out of range 1-65535"),
    ([*WHO, "https://shop.example.com:eighty/orders"], "not a number"),
    ([*WHO, ""], "names no host"),
    ([*WHO, "https://"], "names no host"),
    (["who", str(SHOP), "--env", "prod", "FETCH", "/orders"], "not an HTTP method"),
    (["who", str(SHOP), "--env", "staging", "GET", "/orders"], "staging"),
    (["who", str(SHOP), "--env", "prod"], "the following arguments are required"),
    (["diff", str(SHOP), "--env", "prod"], "diff compares two environments"),
    (["diff", str(SHOP), "--env", "prod", "--env", "staging"], "staging"),
    (["check"], "the following arguments are required: DIR"),
    (["check", str(SHOP), "--format", "yaml"], "invalid choice"),
    (["serve", str(SHOP), "--env", "dev", "--workers", "0"], "0 is not 1 or more"),
    (["serve", str(SHOP), "--env", "dev", "--health-interval", "soon"], "not a number of seconds"),
    (["serve", str(SHOP), "--env", "dev", "--access-log", "{proc}"], "No such file or directory"),
    (["serve", str(SHOP), "--env", "dev", "--state-dir", "{under-file}"], "cannot use the state directory"),
    (["serve", str(SHOP), "--env", "staging"], "staging"),
    (["authz", str(SHOP), "--env", "dev", "--listen", "nowhere"], "expected host:port"),
    (["authz", str(SHOP), "--env", "dev", "--listen", "127.0.0.1:1", "--trusted", "x"], "--trusted x"),
    (["demo", "{tmp}/no-contract"], "invalid"),
    (["demo", "--port-base", "70000"], "out of range 1-65535"),
    (["token", "--sub", "alice", "--ttl", "forever"], "not a duration"),
    (["token", "--sub", "alice", "--claim", "role"], "NAME=VALUE"),
    (["token"], "the following arguments are required: --sub"),
    (["idp", "--listen", "nowhere"], "expected host:port"),
    (["schema", "extra"], "unrecognized arguments"),
    ([], "the following arguments are required: COMMAND"),
]


@pytest.mark.parametrize(("argv", "message"), CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    places: dict[str, str],
    argv: list[str],
    message: str,
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FRONTDOOR_STATE_DIR", str(tmp_path / "state"))
    filled = [arg.format(tmp=tmp_path, **places) for arg in argv]
    code, out, err = run(capsys, filled)
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err
    assert "internal error" not in err  # each of these is handled on purpose, not by the last resort
    last = err.strip().splitlines()[-1]
    assert last.startswith("frontdoor") and message in last, err


def test_the_real_process_prints_no_traceback(tmp_path: Path) -> None:
    """The installed entry point, as a user or CI runs it: the two cases that printed tracebacks."""
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for argv in (
        [*RENDER, str(a_file / "out")],
        [*WHO, "https://[::1/orders"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "frontdoor.cli", *argv],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_unexpected_failure_is_still_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last resort: a bug is reported in one line with exit 2, never as exit 1 ("gaps")."""

    def broken(*_args: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr("frontdoor.cli.contract.run_check", broken)  # check lives there
    code, _, err = run(capsys, ["check", str(SHOP)])
    assert (
        code == 2
        and err.strip() == "frontdoor: internal error: KeyError: 'boom' (FRONTDOOR_DEBUG=1 shows where)"
    )


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_usage_errors_go_to_stderr_with_exit_2(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, [command, "--no-such-option"])
    assert code == 2 and out == "" and "usage: frontdoor" in err and "error:" in err
