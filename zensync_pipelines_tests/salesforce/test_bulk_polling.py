"""How long zensync waits between polls of a Bulk job: short first, growing, then paced by the job's progress."""

import pytest

from zensync_pipelines.systems.salesforce.bulk import MAX_POLL_SECONDS, next_wait


def test_without_progress_the_wait_grows_by_half_up_to_the_cap():
    assert next_wait(0.25, 0.25, 0.3, 0, 100_000) == pytest.approx(0.375)
    assert next_wait(8.0, 0.25, 30, 0, 100_000) == MAX_POLL_SECONDS


def test_with_progress_the_next_poll_comes_when_the_rest_should_be_done():
    # A quarter done after 2 s: about 6 s to go, plus a margin so the next poll finds it finished.
    assert 6.0 < next_wait(0.5, 0.25, 2.0, 25_000, 100_000) < 7.0
    assert next_wait(0.5, 0.25, 2.0, 99_999, 100_000) == 0.25  # nearly done: not below the first wait
    # One record done after 1 s says little about the pace: wait as long again as the job has run, not 10^5 s.
    assert next_wait(0.5, 0.25, 1.0, 1, 100_000) == pytest.approx(1.0)
    assert next_wait(0.5, 0.25, 0.39, 640, 96_000) == pytest.approx(0.39)


def test_the_rate_is_taken_since_the_poll_before_not_since_the_close():
    # Nothing processed for the first 0.4 s (the job queued, its CSV read), then 12,000 records in 0.4 s: the rest
    # (84,000) takes about 2.8 s at that rate, not the 5.6 s an average since the close would say.
    assert 2.8 < next_wait(0.375, 0.25, 0.8, 12_000, 96_000, before=(0.4, 0)) < 3.2
    assert 6.0 < next_wait(0.5, 0.25, 2.0, 25_000, 100_000, before=(0.0, 0)) < 7.0  # the same as no poll before
    # No progress since the poll before (a stall): back off as before any progress.
    assert next_wait(2.0, 0.25, 5.0, 8_000, 96_000, before=(3.0, 8_000)) == pytest.approx(3.0)
