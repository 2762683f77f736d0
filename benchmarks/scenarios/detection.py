"""Change detection: the sensor's idle tick and the tick that notices changed rows, as the catalog grows.

One database per backend grows 10k -> 100k -> 1M customers (bulk loaded, see benchmarks/bulk.py). At each size:
a fresh cursor, then idle ticks (`detect_changes` returning None); K rows touched and the tick that notices them,
plus reading the changed rows the run would sync; idle ticks again with those K rows inside the overlap window;
and a few whole sensor evaluations through Dagster to show the framework's constant cost around the query.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import time
from typing import Any, Callable, Optional

from sqlalchemy import Engine, text, update

from benchmarks import bulk
from benchmarks.common import Context, Result, median, percentile
from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.sensors import ChangeCursor, detect_changes
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.sync import Selection
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.changes import ChangeFeed
from zensync_pipelines.store.db import make_engine

NAME = "detection"
TITLE = "Change detection: idle sensor tick and changed-row detection vs catalog size"

SPEC = dataclasses.replace(CUSTOMERS, systems={"stripe": CUSTOMERS.systems["stripe"]})
OVERLAP = 300.0  # the default sensor_overlap_seconds
IDLE_TICKS = 50
TOUCHED = 100  # rows changed per detection round
ROUNDS = 5  # detection rounds per size: each tick that notices a change happens once, so repeat it
SENSOR_TICKS = 10
TARGET_MS = 20.0


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    sizes = [10_000, 100_000, 1_000_000] if not ctx.smoke else [1_000, 10_000]
    series = ctx.each_backend("detection", lambda backend, url: _backend(ctx, result, backend, url, sizes))
    result.data["series"] = series

    pg = series["PostgreSQL"]
    largest = sizes[-1]
    idle_at_largest = pg["idle_median_ms"][-1]
    result.target(f"idle tick on PostgreSQL at {largest:,} rows", f"median < {TARGET_MS:g} ms", idle_at_largest,
                  "ms", idle_at_largest < TARGET_MS)
    plot_series = {}
    for backend, found in series.items():
        plot_series[f"{backend}: idle tick (median)"] = (sizes, found["idle_median_ms"])
        plot_series[f"{backend}: tick noticing {TOUCHED} rows"] = (sizes, found["change_tick_ms"])
    result.plots.append(ctx.line_plot(
        "detection_tick_vs_rows.png", "Sensor tick time vs catalog rows", plot_series, "catalog rows",
        "tick time (ms)", logx=True, reference=TARGET_MS, reference_label=f"target {TARGET_MS:g} ms (PostgreSQL idle)"))
    result.notes.insert(0, (
        f"Sizes {', '.join(f'{s:,}' for s in sizes)} rows of the demo `customers` table (same columns and index "
        f"(updated_at, id)), one database per backend grown in place, never reseeded. Every row last changed "
        f"at least a day ago, so an idle overlap window ({OVERLAP:g} s) starts empty. Idle: {IDLE_TICKS} calls of "
        f"`detect_changes` on one ChangeFeed (as the sensor keeps it) after a fresh first tick; median and p95. "
        f"Detection: {ROUNDS} rounds of touching {TOUCHED} random rows (updated_at = now) then timing the tick "
        f"that returns the change, and reading the changed rows as the run would (CatalogTables.iter_chunks, "
        f"Selection(changed_since=floor), chunks of 1000). 'Idle, K in window': idle ticks afterwards, with the "
        f"{ROUNDS * TOUCHED} touched rows inside the overlap window, hashed on every tick. Dagster: "
        f"{SENSOR_TICKS} `evaluate_tick` calls of the real sensor definition (build_sensor_context, ephemeral "
        f"instance), idle. Ratios are to the smallest size on the same backend. Timings are wall-clock on a "
        f"shared 2-core machine; single ticks are around a millisecond, so their noise is the scheduler's."))
    result.notes.append(
        "Finding, SQLite: the run's read of changed rows (keyset chunks ordered by id) is a full scan in "
        "primary-key order (plan above: SCAN customers), because SQLite guesses that a range keeps a quarter of "
        "the table and prefers to read in ORDER BY order; its time grows with the catalog (see the ratios), "
        "unlike PostgreSQL's index scan. Wrapping the condition in likelihood(..., 0.001) makes it an index "
        "range scan plus a sort of the matches (2 ms instead of ~125 ms at 10^6 rows in a dev run), but then "
        "each keyset chunk re-reads and re-sorts every match, quadratic for a large backlog (a sensor run after "
        "an outage), so the engine is left unchanged here: the fix needs the chunking to change with it.")
    return result


def _backend(ctx: Context, result: Result, backend: str, url: str, sizes: list[int]) -> dict[str, list[float]]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    bulk.create_table(engine)
    found: dict[str, list[float]] = {k: [] for k in (
        "rows", "idle_median_ms", "idle_p95_ms", "change_tick_ms", "read_changed_ms", "idle_window_median_ms",
        "sensor_median_ms", "seed_s", "measure_s")}
    rng = random.Random(11)
    try:
        for size in sizes:
            began = time.perf_counter()
            added = bulk.grow(engine, size)
            seeded = time.perf_counter() - began
            ctx.log(f"detection {backend}: {size:,} rows (+{added:,} in {seeded:.1f} s)")
            began = time.perf_counter()
            measured = _measure(engine, url, size, rng)
            measured["measure_s"] = round(time.perf_counter() - began, 2)
            found["rows"].append(size)
            found["seed_s"].append(round(seeded, 2))
            for key, value in measured.items():
                if key in found:
                    found[key].append(value)
            base = {k: found[k][0] for k in found}
            where = f"{backend}, {size:,} rows"
            ref = f"{backend} at {sizes[0]:,} rows"
            result.figure(f"idle tick, {where} (median)", measured["idle_median_ms"], "ms", ref,
                          base["idle_median_ms"], note=f"p95 {measured['idle_p95_ms']:.2f} ms, "
                          f"{measured['window_rows']} rows in window")
            result.figure(f"tick noticing {TOUCHED} changed rows, {where} (median of {ROUNDS})",
                          measured["change_tick_ms"], "ms", ref, base["change_tick_ms"])
            result.figure(f"read the changed rows for the run, {where} (median of {ROUNDS})",
                          measured["read_changed_ms"], "ms", ref, base["read_changed_ms"],
                          note=f"{measured['changed_rows']} rows read")
            result.figure(f"idle tick with {ROUNDS * TOUCHED} rows in window, {where} (median)",
                          measured["idle_window_median_ms"], "ms", ref, base["idle_window_median_ms"])
            result.figure(f"whole Dagster sensor evaluation, idle, {where} (median of {SENSOR_TICKS})",
                          measured["sensor_median_ms"], "ms", f"the bare idle tick ({where})",
                          measured["idle_median_ms"])
        result.notes.append(f"{backend} query plan of the idle tick's query at {sizes[-1]:,} rows:\n"
                            + measured["plan"])
        result.notes.append(f"{backend} query plan of the run's read of changed rows at {sizes[-1]:,} rows "
                            f"(first chunk):\n" + measured["read_plan"])
        result.notes.append(f"{backend}: seeding (bulk load, seconds per growth step to "
                            f"{', '.join(f'{s:,}' for s in sizes)}) {found['seed_s']}; measuring "
                            f"{found['measure_s']} s.")
    finally:
        engine.dispose()
    return found


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = call()
    return (time.perf_counter() - began) * 1000, value


def _measure(engine: Engine, url: str, size: int, rng: random.Random) -> dict[str, Any]:
    feed = ChangeFeed(CatalogTables(engine))
    first = detect_changes(feed, SPEC, None, OVERLAP)
    assert first is not None, "a catalog with rows has a newest position"
    cursor: ChangeCursor = first.cursor
    for _ in range(3):  # warm the connection pool and the page cache, as a long-lived code server has them
        assert detect_changes(feed, SPEC, cursor, OVERLAP) is None
    idle = []
    for _ in range(IDLE_TICKS):
        ms, changes = _timed(lambda: detect_changes(feed, SPEC, cursor, OVERLAP))
        assert changes is None, "no row changed, so the tick must be idle"
        idle.append(ms)
    window_rows = len(feed.window(SPEC, cursor.floor))
    plan = _explain(engine, cursor.floor)  # before any touch: the steady idle state, no dead index entries yet
    read_plan = _explain(engine, cursor.floor, READ_SQL)

    change_ticks, reads, touched_all, changed_rows = [], [], [], 0
    for _ in range(ROUNDS):
        touched = rng.sample(range(1, size + 1), TOUCHED)
        touched_all += touched
        _touch(engine, touched, dt.datetime.now(dt.timezone.utc))
        ms, changes = _timed(lambda: detect_changes(feed, SPEC, cursor, OVERLAP))
        assert changes is not None, "touched rows must be noticed by the next tick"
        change_ticks.append(ms)
        tables = CatalogTables(engine)
        tables.table(SPEC)  # reflected once, as the run's process does before its first chunk
        ms, rows = _timed(lambda: [r for chunk in tables.iter_chunks(
            SPEC, Selection(changed_since=changes.changed_since), 1000) for r in chunk])
        got = {r["id"] for r in rows}
        assert set(touched) <= got, "the run must read every touched row"
        reads.append(ms)
        changed_rows = len(rows)
        cursor = changes.cursor

    idle_window = []
    for _ in range(IDLE_TICKS):
        ms, changes = _timed(lambda: detect_changes(feed, SPEC, cursor, OVERLAP))
        assert changes is None
        idle_window.append(ms)

    sensor_ms = _sensor_ticks(url)
    # Put the touched rows back in the past, so the next size starts from an empty window again.
    _touch(engine, touched_all, dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=2))
    return {"idle_median_ms": median(idle), "idle_p95_ms": percentile(idle, 0.95), "window_rows": window_rows,
            "change_tick_ms": median(change_ticks), "read_changed_ms": median(reads), "changed_rows": changed_rows,
            "idle_window_median_ms": median(idle_window), "sensor_median_ms": sensor_ms, "plan": plan,
            "read_plan": read_plan}


def _touch(engine: Engine, ids: list[int], when: dt.datetime) -> None:
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id.in_(ids)).values(updated_at=when))


_SENSORS: dict[str, Any] = {}


def _sensor_ticks(url: str) -> float:
    """Whole `evaluate_tick` calls of the real sensor, idle: what Dagster adds around the one query."""
    from dagster import DagsterInstance, Definitions, build_sensor_context

    from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
    from zensync_pipelines.dagster_defs.resources import CatalogDatabase
    from zensync_pipelines.dagster_defs.sensors import sensor_name
    from zensync_pipelines.dagster_defs.settings import AutomationSettings
    from zensync_pipelines.systems.stripe import StripeResource

    if url not in _SENSORS:  # one code server per database: the sensor keeps its ChangeFeed across ticks
        resources = {"catalog_db": CatalogDatabase(url=url),
                     "stripe": StripeResource(api_key="sk_test_zensync_bench", api_base="http://127.0.0.1:9")}
        defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings(sensor_overlap_seconds=OVERLAP)),
                                 Definitions(resources=resources))
        _SENSORS[url] = (defs, resources, DagsterInstance.ephemeral())
    defs, resources, instance = _SENSORS[url]
    sensor = defs.resolve_sensor_def(sensor_name(SPEC))

    def tick(cursor: Optional[str]) -> Any:
        # No resources: the sensor reads the catalog through the definitions' own (tick_database), as the code
        # server's ticks do; handing them to the context would build them on every tick.
        context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs)
        return sensor.evaluate_tick(context)

    cursor = tick(None).cursor  # the first tick of a fresh cursor asks for a run and sets the cursor
    assert cursor, "the first tick sets a cursor"
    times = []
    for _ in range(SENSOR_TICKS + 2):
        ms, data = _timed(lambda: tick(cursor))
        assert not data.run_requests, "idle: no run requested"
        times.append(ms)
    return median(times[2:])


READ_SQL = (f"SELECT {', '.join(SPEC.columns)} FROM customers WHERE updated_at >= :floor ORDER BY id LIMIT 1000")


def _explain(engine: Engine, floor: dt.datetime,
             sql: str = ("SELECT updated_at, id FROM customers WHERE updated_at >= :floor"
                         " ORDER BY updated_at, id")) -> str:
    """The plan of the tick's query (ChangeFeed.window) with the idle tick's own floor; with READ_SQL, of
    the run's first read of changed rows (CatalogTables.iter_chunks with Selection(changed_since=floor))."""
    if floor.tzinfo is None:
        floor = floor.replace(tzinfo=dt.timezone.utc)
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            rows = connection.execute(text("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " + sql),
                                      {"floor": floor}).scalars()
            return "\n".join(f"    {line}" for line in rows)
        naive = floor.replace(tzinfo=None).isoformat(" ", "microseconds")  # as SQLAlchemy stores it in SQLite
        rows = connection.execute(text("EXPLAIN QUERY PLAN " + sql), {"floor": naive}).all()
        return "\n".join(f"    {row[-1]}" for row in rows)
