"""Figures, targets, plots and notes of the peer scenario (benchmarks/scenarios/peer.py)."""

from __future__ import annotations

from typing import Any

from benchmarks.common import Context, Result, median

LABELS = {"drt": "drt-core 1.2.1 (Accounts)", "zensync-accounts": "zensync (Accounts only)",
          "zensync": "zensync as shipped (Accounts + Contacts)"}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return median([r[key] for r in runs if key in r])


def describe(ctx: Context, result: Result, rows: int, found: dict[str, list[dict[str, Any]]],
             memory: dict[str, dict[int, float]], latency_ms: int) -> Result:
    drt, ours, shipped = found["drt"], found["zensync-accounts"], found["zensync"]
    d_wall, z_wall, s_wall = (_median(x, "seconds") for x in (drt, ours, shipped))
    d_calls, z_calls, s_calls = (_median(x, "calls") for x in (drt, ours, shipped))
    d_mem, z_mem, s_mem = (_median(x, "peak_mb") for x in (drt, ours, shipped))
    d_rerun, z_rerun, s_rerun = (_median(x, "rerun_seconds") for x in (drt, ours, shipped))
    result.data = {"rows": rows, "latency_ms": latency_ms, "runs": found,
                   "memory": {tool: {str(k): v for k, v in sizes.items()} for tool, sizes in memory.items()}}

    result.figure("drt-core: wall time (Accounts)", d_wall, "s")
    result.figure("zensync Accounts only: wall time", z_wall, "s", "drt-core wall time", d_wall,
                  note="each run: " + ", ".join(f"{r['seconds']:.1f}" for r in ours) + " s; drt-core: " +
                       ", ".join(f"{r['seconds']:.1f}" for r in drt) + " s")
    result.figure("zensync as shipped: wall time (Accounts + Contacts)", s_wall, "s", "drt-core wall time", d_wall)
    result.figure("drt-core: API calls", d_calls, "calls")
    result.figure("zensync Accounts only: API calls", z_calls, "calls", "drt-core API calls", d_calls)
    result.figure("zensync as shipped: API calls", s_calls, "calls", "drt-core API calls", d_calls)
    result.figure("drt-core: peak memory", d_mem, "MB")
    result.figure("zensync Accounts only: peak memory", z_mem, "MB", "drt-core peak memory", d_mem)
    result.figure("zensync as shipped: peak memory", s_mem, "MB", "drt-core peak memory", d_mem)
    for tool, runs in found.items():
        result.figure(f"{LABELS[tool]}: Accounts landed", _median(runs, "accounts"), "records",
                      note=f"Contacts landed: {_median(runs, 'contacts'):.0f}")
    result.figure("drt-core: rerun, nothing changed", d_rerun, "s", note=f"{_median(drt, 'rerun_calls'):.0f} calls")
    result.figure("zensync Accounts only: rerun, nothing changed", z_rerun, "s", "drt-core incremental rerun",
                  d_rerun, note=f"{_median(ours, 'rerun_calls'):.0f} calls")
    result.figure("zensync as shipped: rerun, nothing changed", s_rerun, "s", "drt-core incremental rerun",
                  d_rerun, note=f"{_median(shipped, 'rerun_calls'):.0f} calls")

    z_step, s_step = _median(ours, "rerun_step_seconds"), _median(shipped, "rerun_step_seconds")
    rate = rows / z_step if z_step else float("inf")
    result.figure("zensync Accounts only: rerun's sync step (reading unchanged rows)", z_step, "s",
                  note=f"{rate:,.0f} catalog rows/s; the rest of the rerun is Dagster's process start-up, run "
                       f"bookkeeping and checks; as shipped {s_step:.2f} s")
    result.figure("zensync Accounts only: first load's sync step", _median(ours, "step_seconds"), "s",
                  note="the engine's clock: read, plan, intents, Bulk job, results, outcomes")
    # The sandbox's own processing of the Bulk jobs (job info's totalProcessingTime) is the same work whichever
    # tool sent the rows; what is left is the tool's own: start-up, reading, planning, bookkeeping, polling.
    d_job, z_job = _median(drt, "job_seconds"), _median(ours, "job_seconds")
    d_own = median([r["seconds"] - r["job_seconds"] for r in drt])
    z_own = median([r["seconds"] - r["job_seconds"] for r in ours])
    result.figure("drt-core: the sandbox processing its Bulk job", d_job, "s")
    result.figure("zensync Accounts only: the sandbox processing its Bulk job", z_job, "s")
    result.figure("drt-core: own time (wall time - job processing)", d_own, "s")
    result.figure("zensync Accounts only: own time (wall time - job processing)", z_own, "s",
                  "drt-core own time", d_own, note="of which the sync step's share: "
                  f"{_median(ours, 'step_seconds') - z_job:.1f} s; the rest is Dagster's process")
    result.target("wall time, like for like", "<= drt-core's", z_wall / d_wall, "x", z_wall <= d_wall)
    result.target("unchanged rows read (rerun's sync step, PostgreSQL)", ">= 100,000 rows/s", rate, "rows/s",
                  rate >= 100_000)
    result.target("API calls, like for like", "<= drt-core's + 1 per object", z_calls - d_calls, "calls more",
                  z_calls <= d_calls + 1)
    result.target("rerun with nothing changed", "<= 2x drt-core's incremental rerun", z_rerun / d_rerun, "x",
                  z_rerun <= 2 * d_rerun)
    sizes = sorted(memory["drt"])
    growth = {tool: memory[tool][sizes[-1]] / memory[tool][sizes[0]] for tool in memory}
    result.target(f"peak memory growth {sizes[0]:,} -> {sizes[-1]:,} rows (zensync)", "flat (<= 1.5x)",
                  growth["zensync-accounts"], "x", growth["zensync-accounts"] <= 1.5)

    labels = [LABELS[t] for t in found]
    result.plots.append(ctx.bar_plot("peer_seconds.png", f"Wall time, {rows:,} customers, {latency_ms} ms latency "
                                     "(median of runs)", labels, [d_wall, z_wall, s_wall], "seconds"))
    result.plots.append(ctx.bar_plot("peer_calls.png", "Salesforce API calls (median of runs)", labels,
                                     [d_calls, z_calls, s_calls], "API calls"))
    result.plots.append(ctx.line_plot("peer_memory.png", "Peak memory by catalog size (one process per run)",
                                      {LABELS[t]: (sorted(m), [m[s] for s in sorted(m)]) for t, m in memory.items()},
                                      "customers in the catalog", "peak RSS, MB", logx=True))
    result.notes += [
        (f"Sizes: {rows:,} seeded customers (seed_customers, PostgreSQL); {_median(ours, 'accounts'):,.0f} valid "
         f"Accounts (the seed's invalid rows are refused by zensync's planner, and left out of drt-core's model by a "
         f"table of the ids the planner accepts, so both write the same records). {len(drt)} run(s) per tool, "
         f"alternating drt-core, zensync Accounts only, zensync as shipped; each on a fresh copy of the catalog "
         f"schema and a fresh sandbox process (`python -m zensync_pipelines.sandbox.salesforce --latency-ms "
         f"{latency_ms}`, real HTTPS, jobs processed in the background after close as on Salesforce)."),
        ("How each is started: drt-core as `drt run` in a project folder (profile in $HOME/.drt/profiles.yml of a "
         "temporary HOME, OAuth password grant at the instance URL, API v58.0, CA from SSL_CERT_FILE, "
         "poll_interval_seconds 1, mode incremental on updated_at; the cursor column is sent as Description, since "
         "drt-core sends every selected column). zensync as `dagster job execute -j sync_customers_salesforce` "
         "(the factory's job, in-process executor) with SALESFORCE_* and ZENSYNC_DATABASE_URL in the environment, "
         "-m zensync_pipelines.definitions as shipped, -f benchmarks/peer_defs.py for Accounts only."),
        ("Measured: wall time of the process; API calls = the sandbox's counters for /services/data/ (logins are "
         "not API calls); peak memory = ru_maxrss of the process from wait4; rows landed = SOQL COUNT() afterwards. "
         "Rerun: the same command again with nothing changed (drt-core reads rows past its watermark: none)."),
        ("Memory by size (MB, one run each beyond the main size): " + "; ".join(
            f"{LABELS[t]}: " + ", ".join(f"{s:,} rows {m[s]:.0f}" for s in sorted(m)) for t, m in memory.items())),
    ]
    return result
