"""``--workers N`` supervision with real processes: a worker that exits or is SIGKILLed is replaced,
with a doubling delay while replacements keep dying, and a worker that cannot start stops the gateway.

Waits have deadlines only so that a broken supervisor fails the test instead of hanging it; nothing
asserts how fast anything happened."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import FRONTDOOR_PYTHON, ContractSpec, Gateway, Upstreams, request

SERVING = re.compile(r"worker (\d) \(pid (\d+)\) serving")


@pytest.fixture
def supervised(upstreams: Upstreams, tmp_path: Path) -> Iterator[Gateway]:
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")])
    running = Gateway(
        spec.write(tmp_path / "c"), spec, tmp_path / "access.log", "--workers", "2", output=tmp_path / "out"
    )
    yield running
    running.stop()


def wait_for(condition, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def serving(gateway: Gateway) -> dict[int, int]:
    """worker number -> pid of the latest worker that said it serves in that slot."""
    return {int(n): int(pid) for n, pid in SERVING.findall(gateway.output())}


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def all_answered(gateway: Gateway) -> bool:
    return Counter(request(gateway.spec.port, "GET", f"/other/{i}")[0] for i in range(10)) == {200: 10}


def test_a_killed_worker_is_replaced_and_the_gateway_keeps_serving(supervised: Gateway) -> None:
    first = wait_for(lambda: len(serving(supervised)) == 2 and serving(supervised), "two workers serving")
    victim = first[1]
    os.kill(victim, signal.SIGKILL)
    replaced = wait_for(
        lambda: serving(supervised).get(1) not in (None, victim) and serving(supervised), "a replacement"
    )
    out = supervised.output()
    assert f"worker 1 (pid {victim}) was killed by SIGKILL while serving: replacing it in 0.1 s" in out
    assert re.search(r"frontdoor \S+ serve, (compiled \(mypyc\)|pure Python), 2 workers", out)
    assert children(supervised.process.pid) == {replaced[1], first[2]}
    assert all_answered(supervised)
    assert supervised.stop() == 0
    assert "Traceback" not in supervised.output()


def test_a_worker_that_exits_is_replaced_too(supervised: Gateway) -> None:
    first = wait_for(lambda: len(serving(supervised)) == 2 and serving(supervised), "two workers serving")
    os.kill(first[2], signal.SIGTERM)  # it drains and exits 0, as if it had finished by itself
    wait_for(lambda: serving(supervised).get(2) not in (None, first[2]), "a replacement")
    assert f"worker 2 (pid {first[2]}) exited with status 0 while serving" in supervised.output()
    assert all_answered(supervised)


def test_a_worker_that_keeps_dying_is_replaced_with_a_doubling_delay(supervised: Gateway) -> None:
    victim = wait_for(lambda: serving(supervised).get(1), "worker 1 serving")
    for _ in range(4):
        os.kill(victim, signal.SIGKILL)
        victim = wait_for(
            lambda old=victim: serving(supervised).get(1) not in (None, old) and serving(supervised)[1],
            "a replacement",
        )
    delays = re.findall(
        r"worker 1 \(pid \d+\) was killed by SIGKILL while serving: replacing it in ([\d.]+) s",
        supervised.output(),
    )
    assert delays == ["0.1", "0.2", "0.4", "0.8"]
    assert all_answered(supervised)  # the other worker served all along; the fifth serves now too


def test_sighup_reaches_every_worker_after_a_replacement(supervised: Gateway) -> None:
    first = wait_for(lambda: len(serving(supervised)) == 2 and serving(supervised), "two workers serving")
    os.kill(first[1], signal.SIGKILL)
    wait_for(lambda: serving(supervised).get(1) not in (None, first[1]), "a replacement")
    supervised.signal(signal.SIGHUP)
    wait_for(lambda: supervised.output().count("reloaded") >= 2, "both workers reloading")


def test_a_worker_that_cannot_start_stops_the_gateway(upstreams: Upstreams, tmp_path: Path) -> None:
    spec = ContractSpec(shop=[(upstreams.start("shop"), 1)], other=[upstreams.start("other")])
    contract = spec.write(tmp_path / "c")
    with socket.socket() as holder:  # the port taken by another program (no SO_REUSEPORT)
        holder.bind(("127.0.0.1", spec.port))
        holder.listen()
        done = subprocess.run(
            [
                FRONTDOOR_PYTHON,
                "-m",
                "frontdoor",
                "serve",
                str(contract),
                "--env",
                "dev",
                "--workers",
                "2",
                "--state-dir",
                str(tmp_path / "state"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2
    assert "before it served: stopping the gateway" in done.stderr
    assert "replacing" not in done.stderr and "Traceback" not in done.stderr
