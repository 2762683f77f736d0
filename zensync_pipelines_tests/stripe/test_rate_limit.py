"""The client-side rate limiter paces a run: a TokenBucket that admitted everything at once would let the adapter
exceed Stripe's limit (answered with 429s) and finish sooner than the limit allows."""

import threading
import time

from zensync_pipelines.engine.ratelimit import TokenBucket
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.lanes import SharedTokenBucket
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeAdapter

from .test_reliability import KEY, SPEC, catalog, run  # noqa: F401 (catalog is a fixture)

RATE = 20.0  # the adapter's limit
SERVER_RATE = 24  # Stripe's (the sandbox's): a little above, so pacing at RATE never meets a 429
SHARED_SERVER_RATE = 30  # for two runs sharing RATE: still below what two unshared runs send (2 x RATE)


def test_a_run_is_paced_to_the_limit_and_meets_no_429(catalog, stripe_sandbox):  # noqa: F811
    stripe_sandbox.configure(rate_limit=SERVER_RATE)
    began = time.monotonic()
    report = run(catalog, stripe_sandbox.url, "r1", rate_limit_per_second=RATE, rate_limit_retries=0)
    seconds = time.monotonic() - began
    assert (report.created, report.failed) == (56, 4)  # no row refused with rate_limit; 4 invalid on purpose
    assert report.api_calls == 56
    # a full bucket (1 s of the limit) goes at once, the other 36 requests wait for tokens: at least 1.8 s
    assert seconds >= (56 - RATE) / RATE * 0.95


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_acquire_waits_for_the_next_token_once_the_burst_is_spent():
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=2, clock=clock, sleep=clock.sleep)
    for _ in range(6):
        bucket.acquire()
    assert clock.slept == [0.25, 0.25, 0.25, 0.25]  # two at once, then one every 1/4 s
    assert clock.now == 1.0
    assert not bucket.try_acquire()


def test_waiting_threads_are_served_in_turn():
    bucket = TokenBucket(rate=50, burst=1)
    done: list[float] = []
    began = time.monotonic()
    threads = [threading.Thread(target=lambda: (bucket.acquire(), done.append(time.monotonic() - began)))
               for _ in range(11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(done) >= 10 / 50 * 0.9  # eleven tokens at 50/s with a burst of one: the last after 0.2 s


def test_two_runs_at_once_share_the_limit_and_meet_no_429(catalog, stripe_sandbox):  # noqa: F811
    """Two runs side by side (rows 1-30 and 31-60, as a sensor's sync beside a long one), each at the client limit
    but drawing from one lane in the database: together they stay under Stripe's limit, which two buckets of
    their own (40/s against 30/s) would not. The limit has more headroom than above: 16 threads on a loaded
    machine can send a block's requests late, bunched with the next block's (a real run retries such a 429)."""
    stripe_sandbox.configure(rate_limit=SHARED_SERVER_RATE)
    reports: dict[str, object] = {}

    def one(run_id: str, ids: list[str]) -> None:
        adapter = StripeAdapter(KEY, stripe_sandbox.url, rate_limit_per_second=RATE, max_network_retries=0,
                                rate_limit_retries=0)
        adapter.share_limit(SharedTokenBucket(catalog, "stripe", RATE))
        reports[run_id] = sync(SPEC, "stripe", CatalogTables(catalog), MappingStore(catalog), adapter, run_id,
                               Selection(ids=ids))

    began = time.monotonic()
    threads = [threading.Thread(target=one, args=(f"r{n}", [str(i) for i in range(1 + 30 * n, 31 + 30 * n)]))
               for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - began
    assert sorted((r.created, r.failed) for r in reports.values()) == [(28, 2), (28, 2)]  # no rate_limit refusal
    assert seconds >= (56 - RATE) / RATE * 0.95  # paced as one run of 56 requests, not two of 28 at once
