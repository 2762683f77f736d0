"""Commands in a second shell beside `zensync dev` use its sandboxes and settings with no export: dev records them
in its data folder (mode 0600, removed when it stops), a variable set in that shell wins, an empty one counts as
unset, and a file left by a dev that died is ignored."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import stripe

from zensync_pipelines.cli import dev_settings
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.sandbox.starters import SANDBOX_STRIPE_KEY
from zensync_pipelines.store.db import make_engine

ZENSYNC = str(Path(sys.executable).parent / "zensync")  # the installed command, as a user runs it
SANDBOXES = {"STRIPE_API_KEY": SANDBOX_STRIPE_KEY, "STRIPE_API_BASE": "http://127.0.0.1:12111",
             "SALESFORCE_CLIENT_ID": "zensync-dev", "ZENSYNC_SKIP_SYSTEMS": ""}


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_dev_records_its_settings_for_its_own_user_only_and_a_shell_s_own_win(tmp_path):
    written = dev_settings.record(tmp_path, SANDBOXES, "postgresql+psycopg2://zensync:S3cret@db/catalog")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    recorded = json.loads(written.read_text())
    assert recorded["pid"] == os.getpid()
    # No password leaves dev's shell, and dev's automation switches are its own.
    assert recorded["environment"] == {k: v for k, v in SANDBOXES.items() if v}
    environ = {"STRIPE_API_BASE": "https://api.example", "STRIPE_API_KEY": ""}
    assert sorted(dev_settings.adopt(environ, tmp_path)) == ["SALESFORCE_CLIENT_ID", "STRIPE_API_KEY"]
    assert environ == {"STRIPE_API_BASE": "https://api.example", "STRIPE_API_KEY": SANDBOX_STRIPE_KEY,
                       "SALESFORCE_CLIENT_ID": "zensync-dev"}  # set here wins; empty is unset
    dev_settings.record(tmp_path, SANDBOXES, "sqlite:////data/catalog.db")
    assert dev_settings.adopt({}, tmp_path) == ["SALESFORCE_CLIENT_ID", "STRIPE_API_BASE", "STRIPE_API_KEY",
                                                "ZENSYNC_DATABASE_URL"]
    dev_settings.record(tmp_path, SANDBOXES, pid=dead_pid())  # dev died without removing it
    assert dev_settings.adopt({}, tmp_path) == []
    dev_settings.forget(tmp_path)
    assert not written.exists() and dev_settings.adopt({}, tmp_path) == []


def test_zensync_sync_in_a_second_shell_reaches_dev_s_stripe_sandbox_with_no_export(tmp_path, stripe_sandbox_url):
    data = tmp_path / "data"
    data.mkdir()
    seed_customers(make_engine(f"sqlite:///{data / 'catalog.db'}"), 5)
    dev_settings.record(data, {"STRIPE_API_KEY": SANDBOX_STRIPE_KEY, "STRIPE_API_BASE": stripe_sandbox_url})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SALESFORCE_", "ZENSYNC_"))}
    env |= {"ZENSYNC_DATA_DIR": str(data), "STRIPE_API_KEY": "", "COLUMNS": "300"}  # empty: unset
    done = subprocess.run([ZENSYNC, "sync", "customers", "stripe"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"using zensync dev's settings ({data / 'dev-settings.json'}): STRIPE_API_BASE, STRIPE_API_KEY" \
        in done.stderr
    assert SANDBOX_STRIPE_KEY not in done.stdout + done.stderr
    client = stripe.StripeClient(SANDBOX_STRIPE_KEY, base_addresses={"api": stripe_sandbox_url})
    tagged = {c.metadata.to_dict().get("zenskar_id") for c in client.v1.customers.list(params={"limit": 100})
              .auto_paging_iter()}
    assert {"1", "2", "3", "4", "5"} <= tagged


def test_every_command_reads_dev_s_settings_without_loading_dagster():
    """Every command takes dev's settings first: that must not cost each command's start Dagster's seconds of
    imports (commands that need it load it themselves)."""
    probe = "import sys, zensync_pipelines.cli; print('dagster' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"
