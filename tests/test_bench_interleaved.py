"""The benchmark's interleaved comparison: its order, and that a machine drifting during the measurement
does not bias the ratio (bench/gateway.py, run by make bench)."""

from __future__ import annotations

from typing import Any

from bench.gateway import interleaved


def test_runs_alternate_in_pairs_and_drift_cancels() -> None:
    calls: list[str] = []

    def run(name: str) -> dict[str, Any]:
        # the machine gets 10% slower with every run; "other" costs 5% more than "base"
        calls.append(name)
        speed = 1000.0 * 0.9 ** len(calls)
        return {"rps": speed / (1.05 if name == "other" else 1.0), "cpu_us_per_request": 1e6 / speed}

    found = interleaved(run, "base", "other", 4)
    assert calls == ["base", "other", "other", "base", "base", "other", "other", "base"]
    assert found["pairs"] == 4 and len(found["pair_ratios"]) == 4
    # each pair alone is biased by the drift one way or the other; their median is not
    assert min(found["pair_ratios"]) < 1 / 1.05 < max(found["pair_ratios"])
    assert abs(found["rps_ratio"] - 1 / 1.05) < 0.06
