"""The inbound side by hand, as an operator outside `zensync dev` runs it: `zensync poll` reads a system's changes
into the inbox and `zensync inbound` (or `zensync sync --inbound`) applies them, each as a recorded run;
`zensync sandbox salesforce-edit --by FIELD` finds a record by any External ID field; `zensync dev`'s Salesforce
sandbox knows the External ID fields the specs declare. The installed command, the real SDKs, the sandbox."""

import os
import subprocess
import sys
from pathlib import Path

from dagster import DagsterInstance
from simple_salesforce import Salesforce
from sqlalchemy import select

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.spec_fields import schema_with_spec_fields
from zensync_pipelines.sandbox.starters import salesforce_sandbox
from zensync_pipelines.store.db import make_engine

ZENSYNC = str(Path(sys.executable).parent / "zensync")


def zensync(env, *args):
    done = subprocess.run([ZENSYNC, *args], env=env, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_poll_then_inbound_apply_a_sales_edit_found_by_its_external_id_as_recorded_runs(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    engine = make_engine(f"sqlite:///{data / 'catalog.db'}")
    seed_customers(engine, 4)
    with SalesforceSandbox() as sb:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "SALESFORCE_", "ZENSYNC_"))}
        env |= {"ZENSYNC_DATA_DIR": str(data), "COLUMNS": "300", "SALESFORCE_LOGIN_URL": sb.login_url,
                "SALESFORCE_CLIENT_ID": "zensync-app", "SALESFORCE_CLIENT_SECRET": "app-secret",
                "SALESFORCE_CA_BUNDLE": sb.ca_file, "DAGSTER_HOME": str(tmp_path / "home")}
        (tmp_path / "home").mkdir()
        assert zensync(env, "sync", "customers", "salesforce", "--in-process")[0] == 0  # no daemon here
        code, out = zensync(env, "sandbox", "salesforce-edit", "--by", "Zenskar_Id__c", "Account", "2",
                            "Phone=+1 555 0102")
        assert code == 0 and out.startswith("Account 001"), out
        code, out = zensync(env, "sandbox", "salesforce-edit", "--by", "Zenskar_Nope__c", "Account", "2", "Phone=1")
        assert code == 1 and out.count("\n") == 1 and "Account 2 by Zenskar_Nope__c: " in out, out

        code, out = zensync(env, "poll", "salesforce", "--object", "Account")
        assert code == 0 and "poll_salesforce_Account: run " in out and "succeeded" in out, out
        code, out = zensync(env, "inbound", "customers", "salesforce")
        assert code == 0 and "inbound_customers_salesforce: run " in out and "applied=1" in out, out
        with engine.connect() as connection:
            phone = connection.execute(select(customers.c.phone).where(customers.c.id == 2)).scalar_one()
        assert phone == "+1 555 0102"
        code, out = zensync(env, "sync", "customers", "salesforce", "--inbound")  # the same job: nothing left
        assert code == 0 and "applied=0" in out, out
        code, out = zensync(env, "inbound", "plans", "salesforce")
        assert code == 2 and "catalog 'plans' reads nothing back from salesforce" in out, out
    with DagsterInstance.from_config(str(tmp_path / "home")) as instance:  # recorded where zensync sync records
        jobs = [record.dagster_run.job_name for record in instance.get_run_records()]
    assert {"poll_salesforce_Account", "inbound_customers_salesforce"} <= set(jobs)
    assert jobs.count("inbound_customers_salesforce") == 2


def test_dev_s_salesforce_sandbox_knows_the_external_id_fields_the_specs_declare(tmp_path, monkeypatch):
    from zensync_pipelines import catalogs

    assert schema_with_spec_fields(load_specs())[1] == []  # the shipped specs' fields are in the packaged schema
    apart = load_specs("zensync_pipelines_tests.extensibility.catalogs_apart")
    monkeypatch.setattr(catalogs, "load_specs", lambda: apart)
    sandbox, variables = salesforce_sandbox(tmp_path, 0)
    try:
        sf = Salesforce(instance_url=sandbox.instance_url, session_id=sandbox.new_session(),
                        session=sandbox.requests_session())
        assert "Contact.Zenskar_Contact_Id__c" in {f"Contact.{f['name']}" for f in sf.Contact.describe()["fields"]
                                                   if f["externalId"]}
        sf.Contact.upsert("Zenskar_Contact_Id__c/7", {"LastName": "Seven"})
        assert sf.Contact.get_by_custom_id("Zenskar_Contact_Id__c", "7")["LastName"] == "Seven"
    finally:
        sandbox.stop()
