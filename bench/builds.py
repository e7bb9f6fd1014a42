"""Both builds side by side: bench/gateway.py run once per build, each against nginx in its own run.

``make bench`` runs it with the editable pure-Python ``.venv`` and ``.venv-compiled`` (a plain ``pip
install .``: what users get). Each run is a full bench/gateway.py run (nginx, the builds' routes, the
interleaved comparisons and, unless --skip-idle, the idle connections), its JSON written next to
``latest.json`` (``builds-pure.json``, ``builds-compiled.json``; the compiled one is also copied to
``latest.json``, the figure docs/gateway.md quotes). The table compares each target's req/s, ratio to
nginx, p99 and CPU per request across the two runs; ratios are the honest comparison, as the two runs
are minutes apart on a machine whose speed drifts.

    .venv/bin/python bench/builds.py --pure .venv/bin/frontdoor --compiled .venv-compiled/bin/frontdoor
    .venv/bin/python bench/builds.py ... -- --duration 3 --rounds 2 --skip-idle   # after --: gateway.py's
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
GATEWAY = ROOT / "bench" / "gateway.py"
DEFAULT_TARGETS = "nginx,frontdoor,frontdoor-token,frontdoor-ratelimit,frontdoor-redis"


def run_build(name: str, executable: str, extra: list[str], results: Path) -> dict[str, Any]:
    out = results / f"builds-{name}.json"
    argv = [sys.executable, str(GATEWAY), "--frontdoor", executable, "--out", str(out), *extra]
    if not any(arg.startswith("--targets") for arg in extra):
        argv += ["--targets", DEFAULT_TARGETS]
    print(f"[builds] {name}: {' '.join(argv)}", flush=True)
    subprocess.run(argv, check=True)
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def cell(row: dict[str, Any] | None) -> str:
    if not row:
        return "-"
    text = f"{row['rps']:>8,.0f} {row.get('rps_ratio', 0):.2f}x p99 {row['p99_ms']:.1f}ms"
    return f"{text} {row.get('cpu_us_per_request', 0):.0f}us"


def side_by_side(reports: dict[str, dict[str, Any]]) -> str:
    names = list(reports)
    builds = [reports[name]["code"].get("frontdoor_build", "?") for name in names]
    targets: list[str] = []
    for report in reports.values():
        targets += [t for t in report["results"] if t not in targets]
    width = 44
    lines = [
        f"{'target':<22}"
        + "".join(f"{b if n in b else f'{n} ({b})':<{width}}" for n, b in zip(names, builds, strict=True)),
        f"{'':<22}" + f"{'req/s, x nginx, p99, cpu/request':<{width}}" * len(names),
    ]
    for target in targets:
        lines.append(
            f"{target:<22}" + "".join(f"{cell(reports[n]['results'].get(target)):<{width}}" for n in names)
        )
    for name in names:
        for other, found in reports[name].get("interleaved", {}).items():
            lines.append(f"interleaved ({name}): {other} {found['rps_ratio']:.2f}x {found['base']}'s req/s")
    if len(names) == 2 and all("frontdoor" in reports[n]["results"] for n in names):
        first, second = (reports[n]["results"]["frontdoor"] for n in names)
        ratio = second["rps_ratio"] / first["rps_ratio"]
        lines.append(
            f"frontdoor public route, {names[1]} / {names[0]}: {ratio:.2f}x "
            f"the ratio to nginx, {first['cpu_us_per_request'] / second['cpu_us_per_request']:.2f}x less CPU "
            "per request"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pure", required=True, metavar="BIN", help="the pure-Python build's frontdoor")
    parser.add_argument("--compiled", required=True, metavar="BIN", help="the compiled build's frontdoor")
    parser.add_argument("--results", default=str(RESULTS), help="where the JSON goes (bench/results)")
    parser.add_argument("extra", nargs="*", help="after --: arguments for bench/gateway.py")
    args = parser.parse_args(argv)
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    reports = {
        "pure": run_build("pure", args.pure, args.extra, results),
        "compiled": run_build("compiled", args.compiled, args.extra, results),
    }
    shutil.copyfile(results / "builds-compiled.json", results / "latest.json")
    print()
    print(f"both builds, each against nginx in its own run ({reports['compiled']['date']}):")
    print(side_by_side(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
