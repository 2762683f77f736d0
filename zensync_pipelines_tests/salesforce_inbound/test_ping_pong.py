"""Both systems at once: an edit made in Salesforce reaches the catalog and then Stripe, an edit made in Stripe
reaches the catalog and then Salesforce, and the echoes of zensync's own writes on either side change nothing:
the next rounds write nothing anywhere."""

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines_tests.inbound.helpers import add_customers, by_hand, inbound, pull, push, row, stripe_id
from zensync_pipelines_tests.salesforce.conftest import resource_for, run_engine, soql

from .test_inbound_customers import inbound as inbound_salesforce
from .test_inbound_customers import linked, poll


def test_edits_cross_both_systems_and_nothing_echoes_back(sb, sales, stripe_sandbox_url, database_url):
    url = stripe_sandbox_url
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    add_customers(engine, 2)

    def to_salesforce():
        report = run_engine(engine, resource_for(sb).adapter())
        assert report.failed == 0
        return report

    to_salesforce()
    push(engine, url)
    sales.Account.update(linked(engine, "Account")["1"]["external_id"], {"Phone": "+1 555 0111"})
    by_hand(url).v1.customers.update(stripe_id(engine, "customers", 2), params={"email": "two@example.com"})
    poll(sb, engine)
    pull(engine, url)
    assert inbound_salesforce(sb, engine).applied == 1
    assert inbound(engine, url).applied == 1
    assert row(engine, customers, 1)["phone"] == "+1 555 0111"
    assert row(engine, customers, 2)["email"] == "two@example.com"

    assert push(engine, url).updated == 1  # the Salesforce edit reaches Stripe through the catalog
    assert by_hand(url).v1.customers.retrieve(stripe_id(engine, "customers", 1)).phone == "+1 555 0111"
    # The Stripe edit reaches Salesforce (Contact 2's Email), and Contact 1 takes the catalog's new phone.
    assert to_salesforce().updated == 2
    [contact] = soql(sb, "SELECT Email FROM Contact WHERE Zenskar_Id__c = '2'")
    assert contact["Email"] == "two@example.com"

    echoes = 0
    for _ in range(2):  # zensync's own writes come back as events on both sides: none changes anything
        poll(sb, engine)
        pull(engine, url)
        from_salesforce, from_stripe = inbound_salesforce(sb, engine), inbound(engine, url)
        assert (from_salesforce.applied, from_salesforce.failed) == (0, 0)
        assert (from_stripe.applied, from_stripe.failed) == (0, 0)
        assert push(engine, url).updated == 0 and to_salesforce().updated == 0
        echoes += from_salesforce.echo + from_stripe.echo
    assert echoes >= 3  # the Contact writes and the Stripe update did come back, and were recognised
    assert row(engine, customers, 1)["phone"] == "+1 555 0111"
