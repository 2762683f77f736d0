"""`zensync tenants` against a real catalog database: what it prints, what it never prints (a secret), and one
line with a non-zero exit for every bad input."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from zensync_pipelines.cli import main
from zensync_pipelines.store import migrate, secrets
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.tenants import Tenant, TenantStore

ORG = "00D5g000000ZSBXEA4"
STRIPE_KEY, PASSWORD = "sk_test_T2-own-Key-value", "Pw-of-T2-value"


@pytest.fixture
def cli(database_url, tmp_path, monkeypatch):
    for name, value in {"ZENSYNC_DATABASE_URL": database_url, "ZENSYNC_DATA_DIR": str(tmp_path),
                        "COLUMNS": "200", secrets.KEY_VARIABLE: Fernet.generate_key().decode(),
                        "T2_STRIPE_KEY": STRIPE_KEY, "T2_PASSWORD": PASSWORD}.items():
        monkeypatch.setenv(name, value)

    def run(*args, code=0):
        result = CliRunner().invoke(main, ["tenants", *args], catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return run


def test_add_list_show_update_disable_enable_remove(cli, database_url):
    # The first tenant changes how the copies are partitioned: the code location must reload (docs/tenants.md).
    added = cli("add", "t1", "--name", "Tenant One", "--stripe-account", "acct_1One", "--salesforce-org", ORG[:15],
                "--salesforce-refresh-token", "env:T1_REFRESH_TOKEN").splitlines()
    assert added[0] == "tenant t1 added (active)" and added[-1] == "the copies of catalogs with a tenant column are " \
        "partitioned by tenant once the code location reloads (UI: Deployment > Reload; or restart it)"
    cli("add", "t2", "--stripe-key", "env:T2_STRIPE_KEY", "--encrypt", "--salesforce-org", "00D5g00000000GAEAY",
        "--salesforce-username", "integration@two.example", "--salesforce-password", "env:T2_PASSWORD", "--encrypt",
        "--disabled")
    lines = [json.loads(line) for line in cli("list", "--json").splitlines()]
    assert lines == [
        {"id": "t1", "status": "active", "name": "Tenant One", "stripe_account": "acct_1One", "stripe_auth": "connect",
         "stripe_own_account": None, "salesforce_org": ORG},
        {"id": "t2", "status": "disabled", "name": None, "stripe_account": None, "stripe_auth": "own_key",
         "stripe_own_account": None, "salesforce_org": "00D5g00000000GAEAY"}]
    table = cli("list")
    assert "acct_1One" in table and "Tenant One" in table and "own_key" in table
    shown = cli("show", "t2") + cli("show", "t2", "--json") + cli("show", "t1")
    assert STRIPE_KEY not in shown and PASSWORD not in shown and "encrypted (Fernet" in shown
    assert "env:T1_REFRESH_TOKEN" in shown  # a reference is shown: it says where the secret is, not what
    assert json.loads(cli("show", "t2", "--json"))["salesforce_username"] == "integration@two.example"
    engine = make_engine(database_url)
    stored = TenantStore(engine).get("t2")
    engine.dispose()
    assert secrets.resolve(stored.stripe_key) == STRIPE_KEY and secrets.resolve(stored.salesforce_password) == PASSWORD

    assert cli("update", "t1", "--name", "One") == "tenant t1 updated: name\n"
    cli("enable", "t2")
    cli("disable", "t1")
    assert [json.loads(line)["id"] for line in cli("list", "--json", "--status", "active").splitlines()] == ["t2"]
    assert cli("remove", "t1") == "tenant t1 removed\n"
    assert [json.loads(line)["id"] for line in cli("list", "--json").splitlines()] == ["t2"]


@pytest.mark.parametrize("args, message", [
    (["show", "ghost"], "no tenant 'ghost' is registered"),
    (["remove", "ghost"], "no tenant 'ghost' is registered"),
    (["disable", "ghost"], "no tenant 'ghost' is registered"),
    (["add", "Bad Id"], "tenant id 'Bad Id': use 1-63 lowercase letters"),
    (["add", "t9", "--stripe-account", "acct_1One"], "tenant t9: Stripe account acct_1One already belongs to "
                                                      "tenant t1"),
    (["add", "t9", "--salesforce-org", ORG], f"Salesforce org {ORG} already belongs to tenant t1"),
    (["add", "t9", "--salesforce-org", "00D5g000000ZSBXAAA"], "wrong checksum"),
    (["add", "t9", "--stripe-key", STRIPE_KEY], "stripe_key: give a reference, env:NAME or file:"),
    (["add", "t9", "--stripe-key", "env:NOT_SET_ANYWHERE", "--encrypt"], "environment variable NOT_SET_ANYWHERE"),
    (["add", "t9", "--stripe-key", "env:T2_STRIPE_KEY", "--encrypt"], "ZENSYNC_SECRETS_KEY is not set"),
    (["rekey"], "ZENSYNC_SECRETS_KEY_OLD is not set"),
    (["update", "t1"], "nothing to change"),
])
def test_every_bad_input_is_one_line_and_a_non_zero_exit(cli, monkeypatch, args, message):
    cli("add", "t1", "--stripe-account", "acct_1One", "--salesforce-org", ORG)
    if "ZENSYNC_SECRETS_KEY is not set" in message:
        monkeypatch.delenv(secrets.KEY_VARIABLE)
    output = cli(*args, code=1)
    assert message in output and output.count("\n") == 1 and "Traceback" not in output
    assert STRIPE_KEY not in output


def test_rekey_moves_every_secret_to_the_new_key(cli, monkeypatch):
    cli("add", "t2", "--stripe-key", "env:T2_STRIPE_KEY", "--encrypt")
    old = os.environ[secrets.KEY_VARIABLE]
    monkeypatch.setenv(secrets.KEY_VARIABLE, Fernet.generate_key().decode())
    monkeypatch.setenv("MY_OLD_KEY", old)
    assert cli("rekey", "--old-key-env", "MY_OLD_KEY").startswith("1 secrets re-encrypted")
    monkeypatch.delenv("MY_OLD_KEY")
    stored = json.loads(cli("show", "t2", "--json"))["stripe_key"]
    assert stored.startswith("encrypted")


def test_the_installed_command_keeps_cells_whole_and_errors_on_one_line_in_a_pipe(sqlite_url, tmp_path):
    """The real entry point in a subprocess, output to a pipe (one backend: the store is tested on both)."""
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    long_name = "A tenant whose display name is much longer than eighty columns of a terminal would ever hold"
    TenantStore(engine).add(Tenant("t1", name=long_name, stripe_account="acct_1One"))
    engine.dispose()
    env = {**os.environ, "ZENSYNC_DATABASE_URL": sqlite_url, "ZENSYNC_DATA_DIR": str(tmp_path)}
    env.pop("COLUMNS", None)
    zensync = [sys.executable, "-m", "zensync_pipelines.cli", "tenants"]
    listed = subprocess.run([*zensync, "list"], env=env, check=True, capture_output=True, text=True).stdout
    assert long_name in listed  # piped, the table is as wide as its cells
    refused = subprocess.run([*zensync, "add", "t2", "--stripe-account", "acct_1One"], env=env, capture_output=True,
                             text=True)
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr == "Error: tenant t2: Stripe account acct_1One already belongs to tenant t1\n"


def test_a_tenants_own_webhook_secret_is_a_reference_or_encrypted_never_shown(cli, monkeypatch):
    monkeypatch.setenv("T3_WHSEC", "whsec_t3_own_value")
    cli("add", "t3", "--stripe-key", "env:T2_STRIPE_KEY", "--stripe-webhook-secret", "env:T3_WHSEC")
    assert json.loads(cli("show", "t3", "--json"))["stripe_webhook_secret"] == "env:T3_WHSEC"
    cli("update", "t3", "--stripe-webhook-secret", "env:T3_WHSEC", "--encrypt")
    shown = cli("show", "t3", "--json")
    assert json.loads(shown)["stripe_webhook_secret"].startswith("encrypted") and "whsec_t3" not in shown
    refused = cli("update", "t3", "--stripe-webhook-secret", "whsec_literal_value", code=1)
    assert "give a reference" in refused and "whsec_literal_value" not in refused
    assert secrets.resolve(TenantStore(make_engine(os.environ["ZENSYNC_DATABASE_URL"])).get("t3")
                           .stripe_webhook_secret) == "whsec_t3_own_value"
