"""`zensync dev` relays Dagster's output without the lines of idle sensor ticks."""

import io

from zensync_pipelines.cli.devlog import quiet, relay

DAEMON = "2026-12-02 13:19:09 +0000 - dagster.daemon.SensorDaemon - "
LINES = [
    DAEMON + "INFO - Checking for new runs for sensor: customers_stripe_changes\n",
    DAEMON + "INFO - Sensor customers_stripe_changes skipped: no customers row changed\n",
    DAEMON + "INFO - No run requests returned for customers_stripe_retries, skipping\n",
    DAEMON + "INFO - Launching run for customers_stripe_changes\n",
    DAEMON + "WARNING - Sensor customers_stripe_changes skipped: something odd\n",
    "2026-12-02 13:19:10 +0000 - dagster - ERROR - sync_customers_stripe - run failed\n",
]
COLOURED = "\x1b[32m2026-12-02 13:28:22 +0000\x1b[0m - dagster.daemon.SensorDaemon - \x1b[34mINFO\x1b[0m - "


def test_idle_tick_lines_are_dropped_and_everything_else_kept():
    assert list(quiet(LINES)) == LINES[3:]


def test_coloured_lines_are_recognised_too():
    lines = [COLOURED + "Checking for new runs for sensor: x\n", COLOURED + "Launching run for x\n"]
    assert list(quiet(lines)) == lines[1:]


def test_relay_copies_until_the_end_of_the_output():
    sink = io.StringIO()
    relay(io.StringIO("".join(LINES)), sink).join(timeout=5)
    assert sink.getvalue() == "".join(LINES[3:])
