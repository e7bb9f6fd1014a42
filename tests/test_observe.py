"""Operations in memory: traffic windows and quantiles, the metrics recorder and merge, the stop store,
the kill switch stage and the audit log."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from frontdoor.assembly import build_pipeline
from frontdoor.contract.load import load_contract
from frontdoor.http.h1 import RequestHead
from frontdoor.observe import metrics
from frontdoor.observe.audit import AuditLog
from frontdoor.observe.exposition import MergedCollector, exposition
from frontdoor.observe.history import SLOTS, History
from frontdoor.observe.metrics import Recorder, merge
from frontdoor.observe.traffic import BUCKETS, Stat, Table, Window, bucket, quantile
from frontdoor.plan import compile_plan
from frontdoor.policy.admission import Admission, Denial, StageContext
from frontdoor.policy.killswitch import KillSwitchStage, route_id, route_key, service_key, store_for
from frontdoor.policy.stops import FileStops, Stop, file_store

from .contracts import EDGE, TEAMS, environment, service, write

KEY = ("orders.0", "/orders", "orders", "app-a")


def test_bucket_bounds_are_inclusive_and_overflow_goes_last() -> None:
    assert bucket(0.0) == 0
    assert bucket(BUCKETS[0]) == 0
    assert bucket(BUCKETS[0] * 1.01) == 1
    assert bucket(BUCKETS[-1] * 2) == len(BUCKETS)


def test_quantiles_interpolate_within_the_bucket() -> None:
    hist = [0] * (len(BUCKETS) + 1)
    assert quantile(hist, 0.5) is None
    hist[bucket(0.003)] = 100  # all in (0.002, 0.005]
    p50 = quantile(hist, 0.5)
    assert p50 is not None and 0.002 < p50 <= 0.005
    hist[bucket(100.0)] = 1000  # most beyond the last bound
    assert quantile(hist, 0.99) == BUCKETS[-1]


def test_window_forgets_what_leaves_it() -> None:
    window = Window(3)
    for count in (1, 2, 3, 4):
        second = Stat()
        second.requests = count
        second.codes[("GET", 2, "1.1")] = count
        window.push({KEY: second})
    assert window.sum[KEY].requests == 2 + 3 + 4
    assert window.sum[KEY].codes == {("GET", 2, "1.1"): 9}
    for _ in range(3):
        window.push({})
    assert KEY not in window.sum


def test_recorder_ticks_into_totals_and_windows() -> None:
    recorder = Recorder()
    recorder.record(KEY, "GET", 200, 0.003)
    recorder.record(KEY, "GET", 503, 0.2, "kill-switch", "kill-switch: service orders")
    recorder.record(KEY, "POST", 504, 2.0, upstream_error="timeout", version="2")
    recorder.tick(now=recorder._last_tick + 1)
    total = recorder.totals[KEY]
    assert total.requests == 3 and total.errors == 2
    assert total.codes == {("GET", 2, ""): 1, ("GET", 5, ""): 1, ("POST", 5, "2"): 1}
    assert total.denies == {("kill-switch", "kill-switch: service orders"): 1}
    assert total.upstream == {"timeout": 1}
    assert all(w.sum[KEY].requests == 3 for w in recorder.windows)
    # nothing for a minute: the 10 and 60 second windows are empty again, the 5 minute one is not
    recorder.tick(now=recorder._last_tick + 61)
    sums = {w.seconds: w.sum.get(KEY) for w in recorder.windows}
    assert sums[10] is None and sums[60] is None and sums[300] is not None


def test_snapshots_of_two_workers_merge() -> None:
    first, second = Recorder(), Recorder()
    first.record(KEY, "GET", 200, 0.001)
    second.record(KEY, "GET", 200, 0.001)
    second.record(KEY, "GET", 200, 0.001)
    first.events.reloads_ok = 2
    second.events.reloads_ok = 3
    first.circuit[("orders", "http://a")] = 2
    second.circuit[("orders", "http://a")] = 0
    snapshots = [json.loads(json.dumps(r.snapshot())) for r in (first, second)]  # through the file format
    merged = merge(snapshots)
    assert merged.workers == 2
    assert merged.totals[KEY].requests == 3  # the second in progress counts too
    assert merged.events["reloads_ok"] == 5  # each worker reloads itself: reloads done, summed
    assert merged.circuit[("orders", "http://a")] == 2  # the worst state any worker sees


def test_exposition_has_the_labels_from_the_contract(tmp_path: Path) -> None:
    recorder = metrics.recorder()
    recorder.record(KEY, "GET", 200, 0.001)
    recorder.record(KEY, "BREW", 429, 0.001, "rate-limit", "rate_limits.services.orders")
    metrics.set_circuit_state("orders", "http://127.0.0.1:1", "open")
    families = {f.name: f for f in text_string_to_metric_families(exposition(tmp_path).decode())}
    requests = [s for s in families["frontdoor_requests"].samples if s.labels.get("route") == "orders.0"]
    assert {(s.labels["method"], s.labels["code"]) for s in requests} >= {("GET", "2xx"), ("other", "4xx")}
    assert all(s.labels["owner"] == "app-a" and s.labels["service"] == "orders" for s in requests)
    limited = families["frontdoor_rate_limited"].samples
    assert any(s.labels == {"service": "orders", "owner": "app-a"} and s.value >= 1 for s in limited)
    circuit = families["frontdoor_circuit_state"].samples
    assert any(s.labels["endpoint"] == "http://127.0.0.1:1" and s.value == 2 for s in circuit)
    assert "frontdoor_build_info" in families and "frontdoor_request_duration_seconds" in families
    assert isinstance(MergedCollector(None), MergedCollector)


def test_two_stores_on_one_directory_see_each_others_stops(tmp_path: Path) -> None:
    one, two = FileStops(tmp_path), FileStops(tmp_path)
    stop = Stop(
        "service", "orders", service_key("orders"), "app-a", "bad deploy", "2026-01-01T00:00:00Z", "x"
    )
    asyncio.run(one.stop(stop))
    two.refresh()
    assert two.stops == {stop.key: stop}
    assert asyncio.run(two.start(stop.key)) == stop
    one.refresh()
    assert one.stops == {}
    # starting what is not stopped changes nothing
    assert asyncio.run(FileStops(tmp_path).start(stop.key)) is None


def test_stops_are_kept_per_edge_and_environment(tmp_path: Path) -> None:
    stop = Stop("service", "orders", service_key("orders"), "app-a", "bad deploy", "T", "x")
    mine = file_store(tmp_path, "edge", "prod")
    asyncio.run(mine.stop(stop))
    assert (tmp_path / "edge" / "prod" / "stops.json").is_file()
    assert file_store(tmp_path, "edge", "prod") is mine  # one store per deployment in a process
    for edge, env in (("edge", "staging"), ("other-edge", "prod")):
        neighbour = file_store(tmp_path, edge, env)
        neighbour.refresh()
        assert neighbour.stops == {}
    fresh = FileStops(tmp_path / "edge" / "prod")  # another process of the same deployment
    assert fresh.stops == {stop.key: stop}


def test_a_damaged_stop_file_keeps_the_last_stops_and_counts_the_failure(tmp_path: Path) -> None:
    from frontdoor.policy.stops import FAILURES

    store = FileStops(tmp_path)
    stop = Stop("service", "orders", service_key("orders"), "app-a", "bad deploy", "T", "x")
    asyncio.run(store.stop(stop))
    before = FAILURES["file", "read"]
    (tmp_path / "stops.json").write_text("{not json")
    store.refresh()
    assert store.stops == {stop.key: stop}
    assert FAILURES["file", "read"] == before + 1


def _plan(tmp_path: Path):
    root = write(
        tmp_path / "c",
        {
            "teams.yaml": TEAMS,
            "edge.yaml": EDGE,
            "orders.yaml": service(
                "orders", "app-a", "- {path: /orders, access: public}\n- {path: /x, access: public}"
            ),
            "env.yaml": environment("dev", ["orders"]),
        },
    )
    result = load_contract(root)
    assert result.valid, [f.render() for f in result.findings]
    return compile_plan(result.contract, "dev")


def _admission(route) -> Admission:
    head = RequestHead("GET", "/orders", "1.1", [], "h", None, False, True)
    return Admission(head, route, "GET", "/orders", "127.0.0.1", (), 0.0)


def test_kill_switch_stage_answers_503_for_a_stopped_route_only(tmp_path: Path) -> None:
    plan = _plan(tmp_path)
    store = store_for(plan, StageContext(state_dir=tmp_path / "state"))
    stage = KillSwitchStage(plan, store)
    orders, other = (r for _, r in plan.routes())
    assert stage.check(_admission(orders)) is None
    stop = Stop("route", route_id(orders), route_key(orders), "app-a", "leaks data", "T", "admin@x")
    asyncio.run(store.stop(stop))
    denial = stage.check(_admission(orders))
    assert isinstance(denial, Denial) and denial.status == 503 and denial.kind == "kill-switch"
    assert "leaks data" in denial.reason and "T" in denial.reason
    assert stage.check(_admission(other)) is None


def test_the_kill_switch_is_the_first_stage(tmp_path: Path) -> None:
    from frontdoor.policy.admission import StageContext

    pipeline = build_pipeline(_plan(tmp_path), StageContext(state_dir=tmp_path / "s"))
    assert pipeline.stages[0].name == "kill-switch"


def test_audit_log_appends_and_reads_the_newest(tmp_path: Path) -> None:
    log = AuditLog(tmp_path)
    for number in range(5):
        log.append("admin", "127.0.0.1", "stop", f"service:s{number}", "why", "ok")
    records = AuditLog(tmp_path).read(2)  # another process, later
    assert [r["target"] for r in records] == ["service:s3", "service:s4"]
    assert set(records[0]) == {"time", "operator", "client", "action", "target", "reason", "result"}


@pytest.mark.parametrize("state", ["closed", "half-open", "open"])
def test_circuit_states_are_numbered(state: str) -> None:
    metrics.set_circuit_state("svc", "e", state)
    assert metrics.recorder().circuit[("svc", "e")] == metrics.CIRCUIT_STATES[state]


def test_a_duration_s_bucket_is_the_first_bound_it_does_not_exceed() -> None:
    from bisect import bisect_left

    from frontdoor.observe.traffic import BUCKETS, bucket

    durations = [0.0, 1e-6, *BUCKETS, *(b * 0.999 for b in BUCKETS), *(b * 1.001 for b in BUCKETS), 1e9]
    for seconds in durations:
        assert bucket(seconds) == bisect_left(BUCKETS, seconds), seconds
    assert bucket(BUCKETS[0]) == 0 and bucket(BUCKETS[-1] * 2) == len(BUCKETS)


def test_log_durations_are_milliseconds_with_two_decimals() -> None:
    from frontdoor.observe.accesslog import milliseconds as _milliseconds

    for microseconds in [*range(0, 12_000, 3), 99_994, 99_995, 123_456_789]:
        seconds = microseconds / 1_000_000
        assert float(_milliseconds(seconds)) == pytest.approx(seconds * 1000, abs=0.00501)
        assert json.loads(_milliseconds(seconds)) == round(float(_milliseconds(seconds)), 2)
    assert _milliseconds(0.0123456) == "12.35"
    assert _milliseconds(0.0000049) == "0.00"


def test_log_strings_are_json_whatever_the_client_sends() -> None:
    from frontdoor.observe.accesslog import json_string as _json_string

    for text in ["/orders/7", 'a"b\\c', "caf\u00e9", "\x00\x1f", "x" * 500, "/orders/7"]:
        assert json.loads(_json_string(text)) == text


def _totals(requests: int, errors: int = 0, denied: int = 0, slow: int = 0) -> Table:
    stat = Stat()
    stat.requests, stat.errors = requests, errors
    stat.hist[bucket(0.004)] = requests - slow
    stat.hist[bucket(0.9)] = slow
    if denied:
        stat.denies[("rate-limit", "default")] = denied
    return {("orders.0", "/orders", "orders", "shop"): stat}


def test_history_keeps_what_each_step_added_and_forgets_after_fifteen_minutes() -> None:
    history = History()
    history.sample(_totals(10), at=0.0)  # the baseline: no step yet
    assert history.json()["routes"] == []
    history.sample(_totals(30, errors=5, denied=2, slow=20), at=5.0)
    history.sample(_totals(30, errors=5, denied=2, slow=20), at=10.0)  # idle
    history.sample(_totals(3), at=15.0)  # a worker gone: counts went down, nothing happened
    (route,) = history.json()["routes"]
    assert route["requests"] == [20, 0, 0] and route["errors"] == [5, 0, 0] and route["denied"] == [2, 0, 0]
    assert route["p99_ms"][0] is not None and 500 < route["p99_ms"][0] <= 1000  # the slow 20 of 20
    assert route["p99_ms"][1:] == [None, None]
    for n in range(SLOTS + 10):
        history.sample(_totals(40 + n), at=20.0 + 5 * n)
    assert len(history.json()["times"]) == SLOTS


def test_history_counts_denials_by_kind_and_only_the_kinds_there_are() -> None:
    """Per kind, summed over rules, each kind in the fixed set; a name outside it counts as
    ``denied`` (the bound on a step's size does not rest on every stage naming its denials right)."""
    from frontdoor.observe.history import KINDS

    history = History()
    key = ("orders.0", "/orders", "orders", "shop")
    before = Stat()
    before.denies = {("access", "missing token"): 1}
    history.sample({key: before}, at=0.0)
    after = Stat()
    after.requests = 9
    after.denies = {
        ("access", "missing token"): 4,
        ("access", "scope orders:write"): 2,
        ("rate-limit", "default"): 3,
        ("made-up", "x"): 1,
    }
    history.sample({key: after}, at=5.0)
    body = history.json()
    (route,) = body["routes"]
    assert route["denied_by_kind"] == {"access": [5], "rate-limit": [3], "denied": [1]}
    assert route["denied"] == [9]
    assert body["deny_kinds"] == list(KINDS) and "kill-switch" in KINDS and len(KINDS) == len(set(KINDS))
