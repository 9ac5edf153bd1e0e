"""Dynamic micro-batching: concurrent callers' inputs for one model share forward passes.

A `MicroBatcher` owns one daemon thread. Callers `submit(items)` and block; the thread gathers the
queued requests into a batch, runs it (length-sorted, in as few padded sub-batches as pays), and
hands every caller exactly its own results. Plain `threading` and `concurrent.futures.Future`:
no Flask, no models, so it is tested with fake batch functions.
"""
import threading
import time
from collections import deque
from concurrent.futures import CancelledError, Future
from concurrent.futures import TimeoutError as FutureTimeout

# A forward pass is never split into sub-batches when this is its cost: fewest calls always win.
NEVER_SPLIT = 10 ** 9


class Busy(RuntimeError):
    """A request the batcher could not serve now; the client may retry shortly."""

    code = "busy"


class Overloaded(Busy):
    """The queue is full: the request was refused at once, never queued."""

    code = "overloaded"


class Timeout(Busy):
    """No result within the request timeout (queued or running too long)."""

    code = "timeout"


class Closed(RuntimeError):
    """The batcher was closed: it takes no more requests and drops the queued ones."""


class Request:
    """One caller's items, their lengths, and the future its results go to."""

    def __init__(self, items, lengths):
        self.items = items
        self.lengths = lengths
        self.future = Future()

    def __len__(self):
        return len(self.items)


def plan_chunks(lengths, max_items, token_budget, call_cost_tokens=NEVER_SPLIT) -> list:
    """Indices sorted by length, cut into sub-batches that minimise padded tokens + call costs.

    A sub-batch costs call_cost_tokens (the fixed price of one forward pass, in tokens) plus its
    padded size, rows × longest row; it holds at most max_items rows and token_budget padded
    tokens (one row always fits). Sorted rows make the best cuts contiguous, so a small dynamic
    programme over prefixes finds them.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    sorted_lengths = [max(1, lengths[i]) for i in order]
    best = [0] + [float("inf")] * len(order)  # best[j]: cheapest plan for the j shortest rows
    cut = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        for start in range(end - 1, -1, -1):
            rows, padded = end - start, (end - start) * sorted_lengths[end - 1]
            if rows > 1 and (rows > max_items or padded > token_budget):
                break  # starting earlier only makes the sub-batch bigger
            cost = best[start] + call_cost_tokens + padded
            if cost < best[end]:
                best[end], cut[end] = cost, start
    chunks, end = [], len(order)
    while end:
        chunks.append(order[cut[end]:end])
        end = cut[end]
    return chunks[::-1]


def run_grouped(run_batch, items, lengths, max_items, token_budget,
                call_cost_tokens=NEVER_SPLIT) -> list:
    """run_batch over length-grouped sub-batches of items; the results in the items' order."""
    results = [None] * len(items)
    for chunk in plan_chunks(lengths, max_items, token_budget, call_cost_tokens):
        outputs = run_batch([items[i] for i in chunk])
        if len(outputs) != len(chunk):
            raise RuntimeError(f"run_batch returned {len(outputs)} results for {len(chunk)} items")
        for i, output in zip(chunk, outputs):
            results[i] = output
    return results


class MicroBatcher:
    """One model's request queue and the thread that runs its batches.

    A batch closes when the next request would pass max_batch_items or token_budget (padded
    tokens, rows × longest), once it holds as many requests as were in flight at once while the
    previous batch ran (the concurrency just seen: a lone client never waits, and closed-loop
    clients are not split into two halves that take turns), or max_wait_ms after it opened.
    """

    def __init__(self, run_batch, *, max_batch_items=32, token_budget=4096, max_wait_ms=5.0,
                 max_queue=256, timeout_s=10.0, length_of=len, call_cost_tokens=NEVER_SPLIT,
                 on_batch=None, on_queue_depth=None, name="batcher"):
        self.run_batch = run_batch
        self.max_batch_items = max_batch_items
        self.token_budget = token_budget
        self.max_wait_s = max_wait_ms / 1000
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.length_of = length_of
        self.call_cost_tokens = call_cost_tokens
        self.on_batch = on_batch  # called with the items of each batch run
        self.on_queue_depth = on_queue_depth  # called with the items waiting, when it changes
        self._pending = deque()
        self._queued_items = 0
        self._in_flight = 0  # requests queued or running
        self._peak_in_flight = 0  # the most at once since the last batch closed
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def submit(self, items) -> list:
        """Results for items, in order, once their batch ran; or Overloaded, Timeout, its error."""
        items = list(items)
        request = Request(items, [self.length_of(item) for item in items])
        self._enqueue(request)
        try:
            return request.future.result(timeout=self.timeout_s)
        except FutureTimeout:
            request.future.cancel()  # still queued: the thread drops it; running: result unused
            raise Timeout(f"no result within {self.timeout_s:g} s") from None
        except CancelledError:
            raise Closed("the batcher was closed before this request ran") from None

    def _enqueue(self, request) -> None:
        """Queue a request, or refuse it when the queue cannot hold its items."""
        with self._changed:
            if self._closed:
                raise Closed("the batcher is closed")
            # An empty queue takes any request, so one bigger than max_queue is not refused forever.
            if self._queued_items and self._queued_items + len(request) > self.max_queue:
                raise Overloaded(f"{self._queued_items} items already queued "
                                 f"(at most {self.max_queue})")
            self._pending.append(request)
            self._queued_items += len(request)
            self._in_flight += 1
            self._peak_in_flight = max(self._peak_in_flight, self._in_flight)
            self._report_depth()
            self._changed.notify()

    def close(self, timeout=5.0) -> None:
        """Stop taking requests, cancel the queued ones, and end the thread after its batch."""
        with self._changed:
            self._closed = True
            while self._pending:
                self._pending.popleft().future.cancel()
                self._in_flight -= 1
            self._queued_items = 0
            self._changed.notify_all()
        self._thread.join(timeout)

    def _serve(self) -> None:
        """The batching thread: collect a batch, run it, repeat until closed."""
        while True:
            batch = self._collect()
            if batch is None:
                return
            if batch:
                self._run(batch)

    def _collect(self):
        """The next batch of requests (maybe empty if all were cancelled); None once closed."""
        with self._changed:
            while not self._pending and not self._closed:
                self._changed.wait()
            if self._closed:
                return None
            batch, deadline = [], time.monotonic() + self.max_wait_s
            expected = max(1, self._peak_in_flight)
            while True:
                full = self._take_fitting(batch)
                remaining = deadline - time.monotonic()
                if full or len(batch) >= expected or remaining <= 0:
                    break
                self._changed.wait(remaining)
                if self._closed:
                    break
            self._peak_in_flight = self._in_flight
            self._report_depth()
            return batch

    def _take_fitting(self, batch) -> bool:
        """Move queued requests into batch while they fit; whether the batch is now full."""
        while self._pending:
            request = self._pending[0]
            if batch and not self._fits(batch, request):
                return True
            self._pending.popleft()
            self._queued_items -= len(request)
            if request.future.set_running_or_notify_cancel():
                batch.append(request)
            else:  # it timed out in the queue: drop it
                self._in_flight -= 1
        return False

    def _fits(self, batch, request) -> bool:
        """Whether request can join batch within the item and padded-token budgets."""
        items = sum(len(r) for r in batch) + len(request)
        longest = max(max(r.lengths, default=0) for r in [*batch, request])
        return items <= self.max_batch_items and items * longest <= self.token_budget

    def _run(self, batch) -> None:
        """Run one batch; each of its callers gets its own results, or the batch's error."""
        items = [item for request in batch for item in request.items]
        lengths = [length for request in batch for length in request.lengths]
        if self.on_batch:
            self.on_batch(len(items))
        try:
            outcome = run_grouped(self.run_batch, items, lengths, self.max_batch_items,
                                  self.token_budget, self.call_cost_tokens)
        except Exception as error:  # any failure belongs to this batch's callers, not the thread
            outcome = error
        # Out of flight before the callers wake: one that sends its next request at once must not
        # count twice, or a lone client would be taken for two and its next batch would wait.
        with self._changed:
            self._in_flight -= len(batch)
        settle(batch, outcome)

    def _report_depth(self) -> None:
        """Tell on_queue_depth how many items wait (called with the lock held)."""
        if self.on_queue_depth:
            self.on_queue_depth(self._queued_items)


def settle(batch, outcome) -> None:
    """Give each request of batch its slice of the results, or the batch's exception."""
    start = 0
    for request in batch:
        if isinstance(outcome, Exception):
            request.future.set_exception(outcome)
        else:
            request.future.set_result(outcome[start:start + len(request)])
        start += len(request)
