"""docs/adding-a-system.md, step by step: its adapter module and its registry line, taken from the page as they
are, then a catalog synced to a stand-in of the page's Acme API through Dagster, on SQLite and on PostgreSQL."""

import itertools
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from dagster import DagsterInstance, Definitions

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems import registry

from .docs import blocks

TOKEN = "acme-secret-token"


class AcmeApi(BaseHTTPRequestHandler):
    """The API the page describes: contacts, Idempotency-Key on create, lookup by zenskar_id, 429 when busy."""

    contacts: dict = {}
    answers: dict = {}
    busy = 0
    ids = itertools.count(1)

    def log_message(self, *args):  # quiet
        pass

    def reply(self, status, body=None):
        data = json.dumps(body or {}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def route(self, method):
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(401, {"error": {"code": "unauthorized", "message": "bad token"}})
        if AcmeApi.busy:
            AcmeApi.busy -= 1
            return self.reply(429, {"error": {"code": "busy"}})
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")  # v1, contacts[, id]
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if method == "GET":
            wanted = parse_qs(url.query).get("zenskar_id", [None])[0]
            return self.reply(200, {"data": [c for c in self.contacts.values() if c["zenskar_id"] == wanted]})
        if method == "POST":
            key = self.headers.get("Idempotency-Key")
            if key in self.answers:
                return self.reply(200, self.contacts[self.answers[key]])
            contact = dict(body, id=f"acme_{next(self.ids)}")
            self.contacts[contact["id"]] = self.answers[key] = contact
            return self.reply(200, contact)
        contact = self.contacts.get(parts[2])
        if contact is None:
            return self.reply(404, {"error": {"code": "not_found"}})
        if method == "DELETE":
            del self.contacts[parts[2]]
            return self.reply(204)
        contact.update(body)
        return self.reply(200, contact)

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")


@pytest.fixture
def acme_api():
    AcmeApi.contacts, AcmeApi.answers, AcmeApi.busy = {}, {}, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), AcmeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def acme_system(tmp_path):
    """Step 1: the module where the page says (here a package of its own); step 2: the registry line."""
    steps = blocks("adding-a-system.md")
    package = tmp_path / "walkthrough" / "zensync_acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "acme.py").write_text(steps["zensync_pipelines/systems/acme.py"])
    sys.path.insert(0, str(tmp_path / "walkthrough"))
    line = steps["registry"].replace("zensync_pipelines.systems.acme", "zensync_acme.acme")
    exec(line, {"register": registry.register, "SystemEntry": registry.SystemEntry})  # noqa: S102
    yield registry.REGISTRY["acme"]
    registry.unregister("acme")
    sys.path.remove(str(tmp_path / "walkthrough"))
    for name in [m for m in sys.modules if m.startswith("zensync_acme")]:
        del sys.modules[name]


SPEC = CatalogSpec(name="customers", table="customers", primary_key="id", cursor_column="updated_at",
                   created_at_column="created_at", soft_delete_column="deleted_at", systems={"acme": [
                       ExternalObject("contact", [Field("name", "name", required=True, max_length=200),
                                                  Field("email", "email")])]})


def test_the_page_s_system_syncs_a_catalog_through_dagster(acme_system, acme_api, database_url, monkeypatch):
    monkeypatch.setenv("ACME_TOKEN", TOKEN)
    monkeypatch.setenv("ACME_BASE_URL", acme_api)
    engine = make_engine(database_url)
    seed_customers(engine, 12)
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()),
                             Definitions(resources=default_resources(catalog_db=CatalogDatabase(url=database_url))))
    instance = DagsterInstance.ephemeral()

    def run():
        result = defs.resolve_job_def("sync_customers_acme").execute_in_process(instance=instance)
        assert result.success
        [event] = [e for e in result.get_asset_materialization_events() if e.partition is None]  # the run's totals
        return {k: v.value for k, v in event.materialization.metadata.items()}

    AcmeApi.busy = 3  # answered 429 three times: retried with the same key, nothing doubled
    first = run()
    assert (first["created"], first["failed"], first["api_calls"]) == (11, 1, 11 + 3)  # demo row 7 has no name
    assert sorted(int(c["zenskar_id"]) for c in AcmeApi.contacts.values()) == [i for i in range(1, 13) if i != 7]
    assert run()["api_calls"] == 0
    with engine.begin() as connection:
        connection.execute(customers.update().where(customers.c.id == 2).values(name="Renamed"))
        connection.execute(customers.update().where(customers.c.id == 3).values(deleted_at=customers.c.updated_at))
    second = run()
    assert (second["updated"], second["deleted"]) == (1, 1)
    assert [c["name"] for c in AcmeApi.contacts.values() if c["zenskar_id"] == "2"] == ["Renamed"]
    assert "3" not in {c["zenskar_id"] for c in AcmeApi.contacts.values()}


def test_a_refused_token_fails_the_run_and_names_no_secret(acme_system, acme_api, sqlite_url, monkeypatch):
    monkeypatch.setenv("ACME_TOKEN", "wrong-token")
    monkeypatch.setenv("ACME_BASE_URL", acme_api)
    seed_customers(make_engine(sqlite_url), 3)
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()),
                             Definitions(resources=default_resources(catalog_db=CatalogDatabase(url=sqlite_url))))
    result = defs.resolve_job_def("sync_customers_acme").execute_in_process(
        instance=DagsterInstance.ephemeral(), raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error
    assert "AcmeRefused" in failure.to_string() and "wrong-token" not in failure.to_string()
