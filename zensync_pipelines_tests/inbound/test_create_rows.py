"""An object created in the system becomes a catalog row when the spec says so (Inbound(create_rows=True)); the
next outbound run writes the row, zensync's tag included, to that same object: no second object."""

import datetime as dt

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select

from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.engine.inbound.types import Neighbour
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, Inbound
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import DEFAULT_TENANT
from zensync_pipelines.store.tables import mappings
from zensync_pipelines.systems.stripe.current import StripeCurrentState
from zensync_pipelines.systems.stripe.inbound import StripeEvents, to_inbox_event

from .helpers import adapter, by_hand, stripe_events

SPEC = CatalogSpec(
    name="contacts", table="contacts", primary_key="id", cursor_column="updated_at", created_at_column="created_at",
    systems={"stripe": [ExternalObject("customer", inbound=Inbound(create_rows=True), fields=[
        Field("name", "name", direction="both", conflict="newest_wins"),
        Field("email", "email", type="email", direction="both", conflict="newest_wins")])]})
contacts = Table("contacts", MetaData(), Column("id", Integer, primary_key=True, autoincrement=True),
                 Column("name", String(200)), Column("email", String(200)),
                 Column("created_at", DateTime(timezone=True), nullable=False),
                 Column("updated_at", DateTime(timezone=True), nullable=False))


def test_a_customer_made_in_stripe_becomes_one_linked_row(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    contacts.metadata.create_all(engine)
    made = by_hand(url).v1.customers.create(params={"name": "Walk-in", "email": "walk.in@example.com"})
    rows = [to_inbox_event(e, {"customer": "contacts"}) for e in stripe_events(url)]
    InboxStore(engine).add([r for r in rows if r is not None])
    report = InboundRun(SPEC, "stripe", InboundTables(engine), StripeEvents(), StripeCurrentState(adapter(url)),
                        "import").run()
    assert report.applied == 1 and report.failed == 0
    with engine.connect() as connection:
        [row] = connection.execute(select(contacts)).all()
    assert (row.name, row.email) == ("Walk-in", "walk.in@example.com")
    [mapping] = MappingStore(engine).rows("contacts", "stripe")
    assert (mapping["internal_id"], mapping["external_id"]) == (str(row.id), made.id)
    sent = sync(SPEC, "stripe", CatalogTables(engine), MappingStore(engine), adapter(url), "out-1", Selection())
    assert (sent.created, sent.updated) == (0, 1)  # the tag goes onto the same customer
    assert by_hand(url).v1.customers.retrieve(made.id).metadata["zenskar_id"] == str(row.id)
    assert len(list(by_hand(url).v1.customers.list().auto_paging_iter())) == 1
    again = sync(SPEC, "stripe", CatalogTables(engine), MappingStore(engine), adapter(url), "out-2", Selection())
    assert again.api_calls == 0


def test_the_importer_hands_on_what_another_catalog_links_and_imports_only_the_rest(engine, stripe_sandbox_url):
    """Several catalogs writing one type (engine/inbound/rows.py): an object another catalog's mapping holds, or
    that carries its tag field, is handed to that catalog's inbox (still due) when it reads the type back, and
    ignored when it only writes it; only an object no catalog links is imported."""
    url = stripe_sandbox_url
    contacts.metadata.create_all(engine)
    tagged = by_hand(url).v1.customers.create(params={"name": "Member Two", "metadata": {"member_id": "2"}})
    members = by_hand(url).v1.customers.create(params={"name": "Member Three"})
    mailing = by_hand(url).v1.customers.create(params={"name": "Subscriber One"})
    walk_in = by_hand(url).v1.customers.create(params={"name": "Walk-in", "email": "walk.in@example.com"})
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:  # the members and the mailing catalogs created these
        connection.execute(mappings.insert(), [
            {"tenant": DEFAULT_TENANT, "catalog": catalog, "system": "stripe", "object_type": "customer",
             "internal_id": internal_id, "external_id": made.id, "status": "synced", "created_at": now,
             "updated_at": now} for catalog, internal_id, made in (("members", "3", members),
                                                                   ("mailing", "1", mailing))])
    InboxStore(engine).add([r for r in (to_inbox_event(e, {"customer": "contacts"}) for e in stripe_events(url))
                            if r is not None])
    others = {"customer": [Neighbour("members", "metadata.member_id"),
                           Neighbour("mailing", "metadata.mailing_id", reads=False)]}
    report = InboundRun(SPEC, "stripe", InboundTables(engine), StripeEvents(), StripeCurrentState(adapter(url)),
                        "import", neighbours=others).run()
    assert (report.applied, report.handed_off, report.untracked, report.failed) == (1, 2, 1, 0)
    with engine.connect() as connection:
        assert [row.name for row in connection.execute(select(contacts))] == ["Walk-in"]
    assert [m["external_id"] for m in MappingStore(engine).rows("contacts", "stripe")] == [walk_in.id]
    handed = {e["external_id"]: e for e in InboxStore(engine).rows(status="pending")}
    assert sorted(handed) == sorted([tagged.id, members.id])
    assert {(e["catalog"], e["outcome"], e["attempts"]) for e in handed.values()} == {("members", "handed_off", 0)}
    [ignored] = InboxStore(engine).rows(external_id=mailing.id)
    assert (ignored["status"], ignored["outcome"], ignored["catalog"]) == ("ignored", "untracked", "contacts")
    assert ignored["last_error"] == f"customer {mailing.id} is mailing's, which reads no customer back"
    assert InboxStore(engine).due("members", "stripe") and not InboxStore(engine).due("contacts", "stripe")
