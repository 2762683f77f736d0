"""Documented `dagster` commands, run as a new user would: from the repository root, without DAGSTER_HOME or
any other Dagster variable (Dagster then builds a temporary instance from ./dagster.yaml)."""

import os
import subprocess
import sys
from pathlib import Path

from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.store.db import make_engine

ROOT = Path(__file__).resolve().parents[2]
# (Dagster 1.13 marks `dagster definitions validate` itself as superseded by `dg check defs`: its notice stays.)
NOISE = ("DAGSTER_POSTGRES_URL", "Found a dagster instance configuration value")


def dagster(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAGSTER_", "ZENSYNC_", "STRIPE_"))}
    env |= {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))} | extra_env
    command = [sys.executable, "-m", "dagster", *args]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert not [n for n in NOISE if n in output], output[-3000:]
    return done


def test_definitions_validate_works_from_the_repository_root():
    done = dagster("definitions", "validate", "-w", "workspace.yaml")
    assert "Validation successful" in done.stdout + done.stderr


def test_asset_materialize_syncs_a_month_from_the_repository_root(tmp_path, stripe_sandbox):
    database_url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = make_engine(database_url)
    seed_customers(engine, 30)
    engine.dispose()
    dagster("asset", "materialize", "-m", "zensync_pipelines.definitions", "--select", "stripe/customers",
            "--partition", "2025-01-01", ZENSYNC_DATABASE_URL=database_url, ZENSYNC_DATA_DIR=str(tmp_path),
            STRIPE_API_KEY="sk_test_from_root", STRIPE_API_BASE=stripe_sandbox.url)
    import stripe

    client = stripe.StripeClient("sk_test_from_root", base_addresses={"api": stripe_sandbox.url})
    assert list(client.v1.customers.list(params={"limit": 100}).auto_paging_iter())
    assert not list(ROOT.glob(".tmp_dagster_home_*"))  # the temporary instance is gone again
