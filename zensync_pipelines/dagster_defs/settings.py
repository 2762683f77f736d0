"""Automation settings read from the environment when the code location loads (docs/operations.md lists them).

They are deployment choices, not catalog facts, so they live here rather than on the catalog spec.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from dagster import DefaultScheduleStatus, DefaultSensorStatus

SENSORS_DEFAULT = "ZENSYNC_SENSORS_DEFAULT"
SENSOR_INTERVAL = "ZENSYNC_SENSOR_INTERVAL_SECONDS"
SENSOR_OVERLAP = "ZENSYNC_SENSOR_OVERLAP_SECONDS"
SENSOR_WAIT = "ZENSYNC_SENSOR_WAIT_SECONDS"
# How long an idle change or inbox tick watches the catalog database for a write before it ends (waking.py). The
# daemon looks every 5 s; the tick must be over by then, with room for the daemon's own work on a busy machine,
# or the next look skips the sensor and a change waits a whole loop.
DEFAULT_WAIT_SECONDS, MAX_WAIT_SECONDS = 3.0, 4.0
RECONCILE_CRON = "ZENSYNC_RECONCILE_CRON"
SCHEDULES_DEFAULT = "ZENSYNC_SCHEDULES_DEFAULT"
FRESHNESS_MAX_LAG = "ZENSYNC_FRESHNESS_MAX_LAG_MINUTES"
# Comma-separated systems whose sensors and schedules are not built (`zensync dev` sets it for a system with
# neither settings nor a sandbox); their assets and jobs stay, so a manual run shows what is missing.
SKIP_SYSTEMS = "ZENSYNC_SKIP_SYSTEMS"


def _status(name: str) -> bool:
    """True for `running`; a typo must not silently leave automation off (or on), so anything else fails."""
    value = (os.environ.get(name) or "stopped").strip().lower()
    if value not in ("running", "stopped"):
        raise ValueError(f"{name} must be 'running' or 'stopped', got {value!r}")
    return value == "running"


def _number(name: str, default: float, minimum: float) -> float:
    raw = os.environ.get(name)
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def wait_seconds() -> float:
    value = _number(SENSOR_WAIT, DEFAULT_WAIT_SECONDS, 0)
    if value > MAX_WAIT_SECONDS:
        raise ValueError(f"{SENSOR_WAIT} must be at most {MAX_WAIT_SECONDS} (the daemon looks every 5 s), got {value}")
    return value


@dataclass(frozen=True)
class AutomationSettings:
    sensors_running: bool = False  # production default: nothing syncs until someone turns a sensor on
    # The daemon looks at sensors every 5 s and skips one whose last tick started less than its interval ago. A
    # tick starts a moment after the look, later on a busy machine (its thread, the code server's): at 4 s a tick
    # that started 1 s late made the next look skip the sensor, a 10 s gap. At 2 s every look is a tick; the
    # looks, not the interval, set how often sensors tick, so it costs nothing more. An idle tick is one index
    # range scan.
    sensor_interval_seconds: int = 2
    # Rows committed late with an older cursor value are caught if they land within this window; the
    # fingerprint makes re-reading the window free of API calls. Later stragglers wait for the reconcile.
    sensor_overlap_seconds: float = 300.0
    # 0: a tick ends at once (tests tick sensors by hand); the code location reads DEFAULT_WAIT_SECONDS.
    sensor_wait_seconds: float = 0.0
    reconcile_cron: str = "0 3 * * *"
    schedules_running: bool = False
    freshness_max_lag_minutes: float = 60.0
    skipped_systems: tuple[str, ...] = ()

    @property
    def sensor_status(self) -> DefaultSensorStatus:
        return DefaultSensorStatus.RUNNING if self.sensors_running else DefaultSensorStatus.STOPPED

    @property
    def schedule_status(self) -> DefaultScheduleStatus:
        return DefaultScheduleStatus.RUNNING if self.schedules_running else DefaultScheduleStatus.STOPPED

    @classmethod
    def from_env(cls) -> "AutomationSettings":
        return cls(
            sensors_running=_status(SENSORS_DEFAULT),
            sensor_interval_seconds=int(_number(SENSOR_INTERVAL, 2, 1)),
            sensor_overlap_seconds=_number(SENSOR_OVERLAP, 300, 0),
            sensor_wait_seconds=wait_seconds(),
            reconcile_cron=os.environ.get(RECONCILE_CRON) or cls.reconcile_cron,
            schedules_running=_status(SCHEDULES_DEFAULT),
            freshness_max_lag_minutes=_number(FRESHNESS_MAX_LAG, 60, 0),
            skipped_systems=tuple(s.strip() for s in (os.environ.get(SKIP_SYSTEMS) or "").split(",") if s.strip()),
        )
