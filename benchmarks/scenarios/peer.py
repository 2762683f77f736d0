"""Peer: zensync and drt-core 1.2.1 (an open-source reverse-ETL CLI, `pip install -e .[bench]`) load the same
seeded PostgreSQL customers into the same Salesforce sandbox settings, each started as a user starts it (a process),
alternating, on a fresh catalog copy and a fresh sandbox process per run.

drt-core writes one object per sync, so the like-for-like figure is Accounts only (zensync through a code location
whose customers spec keeps the Account object, benchmarks/peer_defs.py); zensync as shipped writes Accounts and
Contacts. Each first run is followed by a rerun with nothing changed (drt-core: incremental on updated_at).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import requests
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.engine import make_url

from benchmarks.common import POSTGRES_URL, Context, Result, median
from benchmarks.scenarios.peer_report import describe
from benchmarks.scenarios.salesforce import api_calls
from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.engine.plan import plan_row
from zensync_pipelines.store.db import make_engine

NAME = "peer"
TITLE = "Peer: zensync vs drt-core 1.2.1, the same customers into the same Salesforce sandbox"
LATENCY_MS = 50
ROOT = Path(__file__).resolve().parents[2]
SPEC = {spec.name: spec for spec in load_specs()}["customers"]
CREDENTIALS = {"client_id": "peer-app", "client_secret": "peer-secret", "username": "bench@example.com",
               "password": "bench-password"}
ACCOUNT_COLUMNS = {"Zenskar_Id__c": "id::text", "Name": "name", "Phone": "phone", "BillingStreet": "address_line1",
                   "BillingCity": "city", "BillingState": "state", "BillingPostalCode": "postal_code",
                   "BillingCountry": "country"}


class SandboxProcess:
    """`python -m zensync_pipelines.sandbox.salesforce` with the benchmark's latency, read through /_sandbox/."""

    def __init__(self, work: Path):
        self.ca_file = str(work / f"sandbox-ca-{uuid.uuid4().hex[:6]}.pem")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zensync_pipelines.sandbox.salesforce", "--latency-ms", str(LATENCY_MS),
             "--ca-file", self.ca_file, "--daily-api-limit", "1000000"],
            cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.process.stdout.readline()  # "Salesforce sandbox listening on https://127.0.0.1:PORT"
        self.url = line.strip().rsplit(" ", 1)[-1]
        assert self.url.startswith("https://"), line

    def get(self, path: str) -> Any:
        return requests.get(self.url + path, verify=self.ca_file, timeout=60).json()

    def counted(self) -> dict[str, int]:
        return api_calls(self.get("/_sandbox/counters"))

    def api(self, path: str, **params: Any) -> Any:
        """GET /services/data/v59.0/<path> with a session of its own. The sandbox counts it as an API call: call it
        only after a run's counters are read."""
        token = requests.post(self.url + "/services/oauth2/token", verify=self.ca_file, timeout=60, data={
            "grant_type": "client_credentials", "client_id": CREDENTIALS["client_id"],
            "client_secret": CREDENTIALS["client_secret"]}).json()["access_token"]
        return requests.get(f"{self.url}/services/data/v59.0/{path}", params=params,
                            headers={"Authorization": f"Bearer {token}"}, verify=self.ca_file, timeout=120).json()

    def landed(self, object_type: str) -> int:
        return self.api("query", q=f"SELECT COUNT() FROM {object_type}")["totalSize"]

    def job_seconds(self) -> float:
        """Seconds the sandbox spent processing every ingest job so far (job info's totalProcessingTime): the
        part of a load that is the same whichever tool sent the rows."""
        return sum(job["totalProcessingTime"] for job in self.api("jobs/ingest")["records"]) / 1000

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SALESFORCE_", "ZENSYNC_", "DAGSTER_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return env | extra


def run_process(command: list[str], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Wall time and peak resident memory of one command (and of the children it waited for). GNU time reads
    the peak from wait4: measured from this process directly, a vfork'd child would start from this process's
    own high-water mark (the benchmark's, with its plotting libraries), not the tool's."""
    peak_file = cwd / f"peak-{uuid.uuid4().hex[:6]}.txt"
    with (cwd / "output.log").open("a") as log:
        began = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(peak_file), *command], cwd=cwd, env=env,
                              stdout=log, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {(cwd / 'output.log').read_text()[-3000:]}")
    return {"seconds": seconds, "peak_mb": int(peak_file.read_text().split()[-1]) / 1024}


@contextmanager
def template_catalog(ctx: Context, rows: int) -> Iterator[tuple[Any, str]]:
    """A schema holding the seeded customers and the ids of the rows whose Account the planner accepts."""
    with ctx.postgres_url() as url:
        engine = make_engine(url)
        seed_customers(engine, rows)
        with engine.begin() as connection:
            catalog = [dict(r._mapping) for r in connection.execute(text("SELECT * FROM customers"))]
            valid = [(row["id"],) for row in catalog
                     if any(op.object_type == "Account" for op in plan_row(SPEC, "salesforce", row, {}).operations)]
            connection.execute(text("CREATE TABLE peer_valid (id BIGINT PRIMARY KEY)"))
            connection.exec_driver_sql("INSERT INTO peer_valid VALUES (%s)", valid)
            schema = connection.execute(text("SELECT current_schema()")).scalar()
        yield engine, schema
        engine.dispose()


def fresh_copy(engine: Any, template: str) -> str:
    """A new schema with copies of the template's tables: every run starts from the same, untouched catalog."""
    schema = f"zspeer_{uuid.uuid4().hex[:8]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        for table in ("customers", "peer_valid"):
            connection.execute(text(f'CREATE TABLE "{schema}".{table} (LIKE "{template}".{table} INCLUDING ALL)'))
            connection.execute(text(f'INSERT INTO "{schema}".{table} SELECT * FROM "{template}".{table}'))
        connection.execute(text(f'ANALYZE "{schema}".customers'))
    # Every run starts with no dirty pages left by the copy or the run before: a checkpoint landing in the middle of
    # one tool's run (PostgreSQL writes them every few minutes or GB of WAL) cost it seconds the next did not pay.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        try:
            connection.execute(text("CHECKPOINT"))
        except DBAPIError:  # not a superuser (nor pg_checkpoint): runs are noisier, not wrong
            pass
    return schema


def drop(engine: Any, schema: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def drt_project(folder: Path, schema: str, sb: SandboxProcess) -> dict[str, str]:
    """A drt project, its profile in $HOME/.drt/profiles.yml, and the environment `drt run` needs."""
    home = folder / "home"
    (home / ".drt").mkdir(parents=True)
    url = make_url(POSTGRES_URL)
    (home / ".drt" / "profiles.yml").write_text(
        f"bench:\n  type: postgres\n  host: {url.host}\n  port: {url.port or 5432}\n  dbname: {url.database}\n"
        f"  user: {url.username}\n" + ("  password_env: PEER_PG_PASSWORD\n" if url.password else ""))
    (folder / "drt_project.yml").write_text("name: peer\nversion: '0.1'\nprofile: bench\n")
    columns = ", ".join(f'{sql} AS "{name}"' for name, sql in ACCOUNT_COLUMNS.items())
    (folder / "syncs").mkdir()
    (folder / "syncs" / "accounts.yml").write_text(f"""name: accounts
model: >-
  SELECT {columns}, updated_at FROM "{schema}".customers WHERE id IN (SELECT id FROM "{schema}".peer_valid)
destination:
  type: salesforce_bulk
  instance_url_env: PEER_SF_INSTANCE_URL
  object_name: Account
  operation: upsert
  external_id_field: Zenskar_Id__c
  poll_interval_seconds: 1
  client_id_env: PEER_SF_CLIENT_ID
  client_secret_env: PEER_SF_CLIENT_SECRET
  username_env: PEER_SF_USERNAME
  password_env: PEER_SF_PASSWORD
sync:
  mode: incremental
  cursor_field: updated_at
  field_mappings:
    updated_at: Description
""")
    return _env(HOME=str(home), SSL_CERT_FILE=sb.ca_file, PEER_SF_INSTANCE_URL=sb.url,
                PEER_SF_CLIENT_ID=CREDENTIALS["client_id"], PEER_SF_CLIENT_SECRET=CREDENTIALS["client_secret"],
                PEER_SF_USERNAME=CREDENTIALS["username"], PEER_SF_PASSWORD=CREDENTIALS["password"],
                **({"PEER_PG_PASSWORD": url.password} if url.password else {}))


def zensync_env(folder: Path, schema: str, sb: SandboxProcess) -> dict[str, str]:
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    (folder / "dagster").mkdir()
    return _env(ZENSYNC_DATABASE_URL=url.render_as_string(hide_password=False), ZENSYNC_DATA_DIR=str(folder),
                DAGSTER_HOME=str(folder / "dagster"), SALESFORCE_LOGIN_URL=sb.url,
                SALESFORCE_CA_BUNDLE=sb.ca_file, SALESFORCE_CLIENT_ID=CREDENTIALS["client_id"],
                SALESFORCE_CLIENT_SECRET=CREDENTIALS["client_secret"], SALESFORCE_USERNAME=CREDENTIALS["username"],
                SALESFORCE_PASSWORD=CREDENTIALS["password"])


def zensync_command(accounts_only: bool) -> list[str]:
    where = ["-f", str(ROOT / "benchmarks" / "peer_defs.py")] if accounts_only else \
        ["-m", "zensync_pipelines.definitions"]
    return [str(Path(sys.executable).parent / "dagster"), "job", "execute", *where, "-j", "sync_customers_salesforce"]


def _sync_seconds(folder: Path, tool: str, prefix: str) -> dict[str, float]:
    """zensync's own time in its sync step(s) of the last run, from the run's log line `<catalog> -> salesforce:
    {... 'seconds': S}` (the engine's clock: reading, planning, calls, bookkeeping; not Dagster's start-up)."""
    if tool == "drt":
        return {}
    log = (folder / "output.log").read_text()
    runs = log.split("RUN_START")
    found = re.findall(r"-> salesforce: \{.*?'skipped': (\d+).*?'seconds': ([0-9.]+)", runs[-1])
    return {f"{prefix}step_seconds": sum(float(s) for _, s in found),
            f"{prefix}skipped": sum(int(k) for k, _ in found)}


def one_run(ctx: Context, engine: Any, template: str, tool: str, rerun: bool = True) -> dict[str, Any]:
    """One tool's first load and (optionally) its rerun on a fresh catalog copy and a fresh sandbox process."""
    folder = ctx.work / f"peer-{tool}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    schema, sb = fresh_copy(engine, template), SandboxProcess(ctx.work)
    try:
        if tool == "drt":
            env, command = drt_project(folder, schema, sb), [str(Path(sys.executable).parent / "drt"), "run"]
        else:
            env, command = zensync_env(folder, schema, sb), zensync_command(tool == "zensync-accounts")
        found = run_process(command, env, folder)
        found["calls"] = sum(sb.counted().values())
        found["counters"] = sb.counted()
        found |= _sync_seconds(folder, tool, "")
        if rerun:
            again = run_process(command, env, folder)
            found["rerun_seconds"], found["rerun_peak_mb"] = again["seconds"], again["peak_mb"]
            found["rerun_calls"] = sum(sb.counted().values()) - found["calls"]
            found |= _sync_seconds(folder, tool, "rerun_")
        # Read after the counters: these reads are API calls of their own. A rerun with nothing changed makes no job.
        found["accounts"], found["contacts"] = sb.landed("Account"), sb.landed("Contact")
        found["job_seconds"] = sb.job_seconds()
    finally:
        sb.stop()
        drop(engine, schema)
        shutil.rmtree(folder / "home", ignore_errors=True)
    ctx.log(f"  {tool}: {found['seconds']:.1f} s (jobs processed {found['job_seconds']:.1f} s), "
            f"{found['calls']} calls, {found['peak_mb']:.0f} MB, "
            f"{found['accounts']} Accounts, {found['contacts']} Contacts; rerun {found.get('rerun_seconds', 0):.1f} s "
            f"{found.get('rerun_calls', '-')} calls")
    return found


def run(ctx: Context) -> Result:
    rows, runs = ctx.size(100_000, 300), ctx.size(3, 1)
    memory_sizes = [size for size in ctx.size((10_000, 100_000), (300,)) if size != rows]
    extra = os.environ.get("ZENSYNC_BENCH_PEER_MEMORY_SIZES")  # e.g. "500000": larger points for the memory curve
    memory_sizes += [int(s) for s in extra.split(",")] if extra else []
    result = Result(NAME, TITLE)
    tools = ("drt", "zensync-accounts", "zensync")
    found: dict[str, list[dict[str, Any]]] = {tool: [] for tool in tools}
    with template_catalog(ctx, rows) as (engine, template):
        for _ in range(runs):  # alternating: drt, zensync Accounts only, zensync as shipped, and again
            for tool in tools:
                found[tool].append(one_run(ctx, engine, template, tool))
    memory: dict[str, dict[int, float]] = {"drt": {}, "zensync-accounts": {}}
    for tool in memory:
        memory[tool][rows] = median([r["peak_mb"] for r in found[tool]])
    for size in memory_sizes:
        with template_catalog(ctx, size) as (engine, template):
            for tool in memory:
                memory[tool][size] = one_run(ctx, engine, template, tool, rerun=False)["peak_mb"]
    return describe(ctx, result, rows, found, memory, LATENCY_MS)
