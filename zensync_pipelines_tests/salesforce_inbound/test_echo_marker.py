"""zensync's own outbound sync fires outbound messages too, as in a real org; every one of them names zensync's
integration user, which zensync learns from the org, while a person's edit names someone else."""

from __future__ import annotations

import json

from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines_tests.salesforce.conftest import run_engine, seeded
from zensync_pipelines_tests.salesforce_inbound.endpoint import Endpoint
from zensync_pipelines_tests.sandbox_salesforce.conftest import wait_until


def test_zensyncs_writes_are_recognisable_as_echoes(sb, adapter, sales, database_url):
    engine = seeded(database_url, 30)
    with Endpoint(InboxStore(engine)) as endpoint:
        sb.outbound.configure({"*": endpoint.url})
        sb.configure(outbound_base_delay=0.01, outbound_max_delay=0.05)
        report = run_engine(engine, adapter)
        assert report.created > 0
        # one notification per record zensync created (Accounts and Contacts), each naming zensync's user
        wait_until(lambda: len(endpoint.inbox.rows(system="salesforce")) == report.created, timeout=30)
        me = adapter.changes.identity().user_id
        echoes = endpoint.inbox.rows(system="salesforce")
        assert {json.loads(e["payload"])["LastModifiedById"] for e in echoes} == {me}
        [account] = sales.query("SELECT Id FROM Account LIMIT 1")["records"]
        sales.Account.update(account["Id"], {"Phone": "+1 555 0142"})
        wait_until(lambda: len(endpoint.inbox.rows(system="salesforce")) == len(echoes) + 1)
        [edit] = [e for e in endpoint.inbox.rows(system="salesforce") if e["id"] not in {x["id"] for x in echoes}]
        assert json.loads(edit["payload"])["LastModifiedById"] != me
    engine.dispose()
