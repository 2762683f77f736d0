"""The request rate shared by every run of a system (store/lanes.py): takers in separate connections, as separate
run processes are, stay together within the lane's rate over a real database, each in turn, and a taker hits the
database once per block of tokens, not once per request."""

import threading
import time

from zensync_pipelines.engine.ratelimit import TokenBucket
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.lanes import SharedTokenBucket

from ..stripe.test_rate_limit import FakeClock


def test_tokens_come_from_the_database_a_block_at_a_time_and_a_debt_is_waited_for(engine):
    clock = FakeClock()
    first = SharedTokenBucket(engine, "stripe", rate=10, block=5, clock=clock, sleep=clock.sleep)
    second = SharedTokenBucket(engine, "stripe", rate=10, block=5, clock=clock, sleep=clock.sleep)
    for _ in range(10):  # the full bucket (10 tokens): two blocks, no wait
        first.acquire()
    assert (first.takes, clock.slept) == (2, [])
    second.acquire()  # the bucket is empty: its block of 5 is owed, paid by 0.5 s of refill
    assert (second.takes, clock.slept) == (1, [0.5])
    for _ in range(4):
        second.acquire()  # the rest of its block, from its own hand
    assert second.takes == 1 and clock.slept == [0.5]
    first.acquire()  # the next block waits its own turn behind the one already paid for
    assert clock.slept == [0.5, 0.5] and clock.now == 1.0
    other = SharedTokenBucket(engine, "salesforce", rate=10, block=5, clock=clock, sleep=clock.sleep)
    other.acquire()  # another lane has its own bucket
    assert clock.slept == [0.5, 0.5]


def _hammer(bucket, stamps: list, until: float) -> None:
    while time.monotonic() < until:
        bucket.acquire()
        stamps.append(time.monotonic())


def _rates(make_bucket, takers: int, seconds: float) -> tuple[list[list[float]], float]:
    began = time.monotonic()
    stamps: list[list[float]] = [[] for _ in range(takers)]
    threads = [threading.Thread(target=_hammer, args=(make_bucket(), stamps[i], began + seconds))
               for i in range(takers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return stamps, began


def test_two_runs_sharing_a_lane_stay_within_its_rate_together(database_url, engine):
    rate, burst, block, seconds = 40.0, 10.0, 5, 2.0
    engines = []

    def shared():  # a connection pool of its own: from the database's view, another process
        engines.append(make_engine(database_url))
        return SharedTokenBucket(engines[-1], "stripe", rate, burst=burst, block=block)

    try:
        stamps, began = _rates(shared, 2, seconds)
    finally:
        for own in engines:
            own.dispose()
    total = sum(len(s) for s in stamps)
    # What the bucket admits in `seconds`: its burst and the refill, plus the blocks paid for and still in hand.
    allowed = burst + rate * seconds + 2 * block
    assert total <= allowed
    assert total >= rate * seconds * 0.6  # the database round trips do not eat the rate
    assert min(len(s) for s in stamps) >= total * 0.3  # each run gets its turn, neither starves
    every = sorted(t for s in stamps for t in s)
    for i, start in enumerate(every):  # no second holds more than the burst, one second's refill and the blocks
        assert sum(1 for t in every[i:] if t < start + 1.0) <= burst + rate + 2 * block
    # The same two runs each with its own bucket, as before the lane: twice the rate, which the check above fails.
    alone, _ = _rates(lambda: TokenBucket(rate, burst=burst), 2, seconds)
    assert sum(len(s) for s in alone) > allowed
