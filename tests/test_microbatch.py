"""microbatch.py: results reach the right caller, length grouping, overload, timeout, failures."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from microbatch import Closed, MicroBatcher, Overloaded, Timeout, plan_chunks, run_grouped

WAIT_S = 10  # generous bound for "this happens eventually"; no test asserts a duration


class Gate:
    """A fake run_batch that records its calls and can hold a batch until released."""

    def __init__(self, hold_first=False, fail_on=None):
        self.calls = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.hold_first = hold_first
        self.fail_on = fail_on

    def __call__(self, items):
        self.calls.append(list(items))
        self.started.set()
        if self.hold_first and len(self.calls) == 1:
            self.release.wait(WAIT_S)
        if self.fail_on in items:
            raise ValueError(f"cannot run {self.fail_on}")
        return [(item, len(self.calls)) for item in items]  # tagged with the batch number


def wait_for(condition) -> None:
    """Poll condition until it holds (bounded), so tests wait for states, never for durations."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.001)


class DepthProbe:
    """on_queue_depth hook: the latest number of queued items."""

    def __init__(self):
        self.depth = 0

    def __call__(self, depth):
        self.depth = depth


@pytest.fixture
def make_batcher():
    """Build MicroBatchers that are closed after the test."""
    made = []

    def make(run_batch, **options):
        options = {"length_of": len, "max_wait_ms": 1, **options}
        made.append(MicroBatcher(run_batch, **options))
        return made[-1]

    yield make
    for batcher in made:
        batcher.close()


def start_blocked(make_batcher, **options):
    """A batcher whose first batch ("first") is running and held: later requests queue up."""
    gate, probe = Gate(hold_first=True), DepthProbe()
    batcher = make_batcher(gate, on_queue_depth=probe, **options)
    pool = ThreadPoolExecutor(max_workers=16)
    first = pool.submit(batcher.submit, ["first"])
    assert gate.started.wait(WAIT_S)
    return batcher, gate, probe, pool, first


def test_every_caller_gets_its_own_results_under_concurrency(make_batcher):
    batcher = make_batcher(Gate(), max_batch_items=8)
    requests = [[f"r{i}-{j}" for j in range(1 + i % 3)] for i in range(200)]
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(batcher.submit, requests))
    for request, answer in zip(requests, answers):
        assert [item for item, _ in answer] == request


def test_queued_requests_share_one_batch(make_batcher):
    batcher, gate, probe, pool, first = start_blocked(make_batcher, max_batch_items=32)
    requests = [[f"r{i}a", f"r{i}b"] for i in range(5)]
    futures = [pool.submit(batcher.submit, request) for request in requests]
    wait_for(lambda: probe.depth == 10)
    gate.release.set()
    assert [item for item, _ in first.result(WAIT_S)] == ["first"]
    answers = [future.result(WAIT_S) for future in futures]
    assert {batch for answer in answers for _, batch in answer} == {2}  # all in the second batch
    assert [[item for item, _ in answer] for answer in answers] == requests
    assert probe.depth == 0


def test_a_lone_client_never_waits_for_company(make_batcher):
    # With a minute of max wait and a 5 s timeout, any wait for a second request would time out.
    batcher = make_batcher(Gate(), max_wait_ms=60_000, timeout_s=5)
    for i in range(20):
        assert [item for item, _ in batcher.submit([f"r{i}"])] == [f"r{i}"]


def test_batch_closes_at_max_items(make_batcher):
    batcher, gate, probe, pool, first = start_blocked(make_batcher, max_batch_items=4)
    futures = [pool.submit(batcher.submit, [f"r{i}a", f"r{i}b"]) for i in range(4)]
    wait_for(lambda: probe.depth == 8)
    gate.release.set()
    for future in futures:
        future.result(WAIT_S)
    assert [len(call) for call in gate.calls] == [1, 4, 4]


@pytest.mark.parametrize("lengths, max_items, budget, cost, chunks", [
    ([3, 1, 2], 8, 1000, 64, [[1, 2, 0]]),  # sorted by length, one pass
    ([5, 50, 6, 48, 7, 100], 32, 4096, 64, [[0, 2, 4], [3, 1], [5]]),  # split where padding costs
    ([5, 50, 6, 48, 7, 100], 32, 4096, 10 ** 9, [[0, 2, 4, 3, 1, 5]]),  # GPU: never split
    ([1, 1, 1, 1, 1], 2, 1000, 10 ** 9, [[0, 1], [2, 3], [4]]),  # at most max_items rows
    ([10, 10, 10, 10], 8, 20, 10 ** 9, [[0, 1], [2, 3]]),  # at most budget padded tokens
    ([500], 8, 20, 0, [[0]]),  # a row longer than the budget still runs, alone
    ([], 8, 20, 0, []),
])
def test_plan_chunks(lengths, max_items, budget, cost, chunks):
    assert plan_chunks(lengths, max_items, budget, cost) == chunks


def test_run_grouped_restores_input_order():
    calls = []

    def run(items):
        calls.append(items)
        return [item.upper() for item in items]

    items = ["ccc", "a", "bb", "dddddddddd"]
    assert run_grouped(run, items, [len(i) for i in items], 2, 1000) == [
        "CCC", "A", "BB", "DDDDDDDDDD"]
    assert calls == [["a", "bb"], ["ccc", "dddddddddd"]]


def test_run_grouped_rejects_a_wrong_number_of_results():
    with pytest.raises(RuntimeError, match="2 items"):
        run_grouped(lambda items: items[:1], ["a", "b"], [1, 1], 8, 100)


def test_batcher_groups_a_batch_by_length(make_batcher):
    gate = Gate()
    batcher = make_batcher(gate, call_cost_tokens=5)
    items = ["x" * 40, "y", "z" * 39, "w"]
    assert [item for item, _ in batcher.submit(items)] == items
    assert sorted(map(sorted, gate.calls)) == [sorted(["w", "y"]), sorted([items[0], items[2]])]


def test_full_queue_refuses_at_once(make_batcher):
    batcher, gate, probe, pool, first = start_blocked(make_batcher, max_queue=3)
    queued = pool.submit(batcher.submit, ["a", "b", "c"])
    wait_for(lambda: probe.depth == 3)
    with pytest.raises(Overloaded) as refused:
        batcher.submit(["d"])
    assert refused.value.code == "overloaded"
    gate.release.set()
    assert [item for item, _ in queued.result(WAIT_S)] == ["a", "b", "c"]
    assert [item for item, _ in batcher.submit(["d"])] == ["d"]  # room again


def test_a_request_that_times_out_in_the_queue_never_runs(make_batcher):
    batcher, gate, probe, pool, first = start_blocked(make_batcher, timeout_s=0.05)
    with pytest.raises(Timeout) as late:
        batcher.submit(["late"])
    assert late.value.code == "timeout"
    # Release only after the held caller gave up: a caller thread that wakes late would otherwise
    # find the result already set and return it (seen on a loaded CI machine).
    wait_for(first.done)
    gate.release.set()
    with pytest.raises(Timeout):  # the held request itself timed out for its caller…
        first.result(WAIT_S)
    batcher.timeout_s = WAIT_S
    assert [item for item, _ in batcher.submit(["next"])] == ["next"]  # …and the batcher goes on
    assert ["late"] not in gate.calls


def test_a_failing_batch_fails_only_its_own_requests(make_batcher):
    batcher, gate, probe, pool, first = start_blocked(make_batcher)
    gate.fail_on = "bad"
    failing = [pool.submit(batcher.submit, ["bad"]), pool.submit(batcher.submit, ["ok"])]
    wait_for(lambda: probe.depth == 2)
    gate.release.set()
    assert [item for item, _ in first.result(WAIT_S)] == ["first"]
    for future in failing:  # "ok" shared the batch with "bad"
        with pytest.raises(ValueError, match="cannot run bad"):
            future.result(WAIT_S)
    assert [item for item, _ in batcher.submit(["later"])] == ["later"]


def test_close_refuses_new_requests_and_drops_queued_ones(make_batcher):
    batcher, gate, probe, pool, first = start_blocked(make_batcher)
    queued = pool.submit(batcher.submit, ["queued"])
    wait_for(lambda: probe.depth == 1)
    closer = threading.Thread(target=batcher.close)
    closer.start()
    with pytest.raises(Closed):
        queued.result(WAIT_S)
    gate.release.set()
    closer.join(WAIT_S)
    assert [item for item, _ in first.result(WAIT_S)] == ["first"]  # the running batch finished
    with pytest.raises(Closed):
        batcher.submit(["after"])
