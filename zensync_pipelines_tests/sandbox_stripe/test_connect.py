"""Stripe Connect in the sandbox: connected accounts made through /v1/accounts, and every request with a
`Stripe-Account` header confined to its account (objects, events with `account`, idempotency keys, webhook
deliveries, rate limit), through the real SDK over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import stripe

from zensync_pipelines.sandbox.stripe import ManualClock, StripeSandbox

from .conftest import KEY
from .test_webhooks import Receiver, wait_until


def as_account(sb: StripeSandbox, account: str | None) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, stripe_account=account, base_addresses={"api": sb.url}, max_network_retries=0)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_platform_creates_lists_updates_and_deletes_connected_accounts(client: stripe.StripeClient,
                                                                       sandbox: StripeSandbox) -> None:
    first = client.v1.accounts.create({"type": "custom", "country": "FR", "email": "t1@example.com",
                                       "business_profile": {"name": "Tenant One"}, "metadata": {"tenant": "t1"}})
    second = client.v1.accounts.create({"controller": {"stripe_dashboard": {"type": "none"}}})
    assert first.id.startswith("acct_") and first.id != second.id
    assert (first.country, first.email, first.business_profile.name, first.type) == ("FR", "t1@example.com",
                                                                                       "Tenant One", "custom")
    assert [a.id for a in client.v1.accounts.list().data] == [second.id, first.id]
    assert client.v1.accounts.update(first.id, {"metadata": {"tenant": "t1b"}}).metadata.to_dict() == {"tenant": "t1b"}
    assert client.v1.accounts.retrieve(first.id).metadata.to_dict() == {"tenant": "t1b"}
    assert as_account(sandbox, first.id).v1.accounts.retrieve_current().id == first.id
    assert client.v1.accounts.retrieve_current().id.startswith("acct_")  # the platform itself
    with pytest.raises(stripe.InvalidRequestError, match="type"):
        client.v1.accounts.create({"country": "US"})  # neither type nor controller
    with pytest.raises(stripe.PermissionError):
        as_account(sandbox, first.id).v1.accounts.list()  # only the platform manages accounts
    assert client.v1.accounts.delete(second.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError, match="No such account"):
        client.v1.accounts.retrieve(second.id)


def test_objects_events_and_keys_stay_in_their_account(client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    a, b = (client.v1.accounts.create({"type": "custom"}).id for _ in range(2))
    in_a, in_b = as_account(sandbox, a), as_account(sandbox, b)
    cus_a = in_a.v1.customers.create({"email": "one@a.example", "metadata": {"zenskar_id": "1"}},
                                     {"idempotency_key": "zensync-customer-1"})
    cus_b = in_b.v1.customers.create({"email": "one@b.example", "metadata": {"zenskar_id": "1"}},
                                     {"idempotency_key": "zensync-customer-1"})
    mine = client.v1.customers.create({"email": "platform@example.com"})
    # The same key in two accounts made two customers: keys are per account, not a replay of the other's.
    assert cus_a.id != cus_b.id and cus_b.email == "one@b.example"
    replay = in_a.v1.customers.create({"email": "one@a.example", "metadata": {"zenskar_id": "1"}},
                                      {"idempotency_key": "zensync-customer-1"})
    assert replay.id == cus_a.id and replay.last_response.headers.get("Idempotent-Replayed") == "true"
    assert [c.id for c in in_a.v1.customers.list().data] == [cus_a.id]
    assert [c.id for c in in_b.v1.customers.list().data] == [cus_b.id]
    assert [c.id for c in client.v1.customers.list().data] == [mine.id]
    for reader, foreign in ((in_b, cus_a.id), (client, cus_a.id), (in_a, mine.id)):
        with pytest.raises(stripe.InvalidRequestError) as missing:
            reader.v1.customers.retrieve(foreign)
        assert missing.value.code == "resource_missing"
    # Events: each account lists its own, connected ones name their account at the top level.
    events_a = in_a.v1.events.list().data
    assert [(e.type, e.account, e.data.object.id) for e in events_a] == [("customer.created", a, cus_a.id)]
    assert [e.account for e in in_b.v1.events.list().data] == [b]
    platform_events = client.v1.events.list().data
    assert [e.data.object.id for e in platform_events] == [mine.id]
    assert "account" not in platform_events[0].to_dict()  # a platform event is exactly what it was before Connect


def test_unknown_or_deleted_account_is_refused_with_403(client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    with pytest.raises(stripe.PermissionError) as refused:
        as_account(sandbox, "acct_1NotConnected00").v1.customers.list()
    assert refused.value.error.code == "account_invalid" and refused.value.http_status == 403
    gone = client.v1.accounts.create({"type": "express"}).id
    as_account(sandbox, gone).v1.customers.create({"email": "x@example.com"})
    client.v1.accounts.delete(gone)
    with pytest.raises(stripe.PermissionError):
        as_account(sandbox, gone).v1.customers.list()
    with pytest.raises(stripe.AuthenticationError):  # a bad key is still a 401 first, whatever the header says
        stripe.StripeClient("pk_bad", stripe_account=gone, base_addresses={"api": sandbox.url}).v1.customers.list()


def test_revoked_access_and_revoked_keys_fail_alone(client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    import requests

    a, b = (client.v1.accounts.create({"type": "standard"}).id for _ in range(2))
    kept = as_account(sandbox, a).v1.customers.create({"email": "kept@example.com"}).id
    http = requests.Session()
    http.trust_env = False
    assert http.post(f"{sandbox.url}/_sandbox/accounts/{a}", json={"revoked": True}).json()["revoked"] is True
    with pytest.raises(stripe.PermissionError):
        as_account(sandbox, a).v1.customers.list()  # the account deauthorised the platform ...
    assert as_account(sandbox, b).v1.customers.list().data == []  # ... the others are served
    http.post(f"{sandbox.url}/_sandbox/accounts/{a}", json={"revoked": False})
    assert [c.id for c in as_account(sandbox, a).v1.customers.list().data] == [kept]  # its data stayed
    own_key = "sk_test_tenant_own_key"
    assert http.post(f"{sandbox.url}/_sandbox/keys", json={"key": own_key}).json() == {"revoked": True}
    with pytest.raises(stripe.AuthenticationError) as expired:
        stripe.StripeClient(own_key, base_addresses={"api": sandbox.url}).v1.customers.list()
    assert expired.value.error.code == "api_key_expired" and own_key not in str(expired.value)
    assert client.v1.customers.list().object == "list"  # another key of the platform still works
    assert http.post(f"{sandbox.url}/_sandbox/accounts/{a}", data="{bad").status_code == 400
    assert http.post(f"{sandbox.url}/_sandbox/accounts/acct_1Nobody000000000", json={}).status_code == 404


def test_each_account_has_its_own_rate_limit(client: stripe.StripeClient, sandbox: StripeSandbox,
                                             clock: ManualClock) -> None:
    a, b = (client.v1.accounts.create({"type": "custom"}).id for _ in range(2))
    sandbox.configure(rate_limit=3)

    def outcomes(c: stripe.StripeClient, n: int) -> list[str]:
        seen = []
        for _ in range(n):
            try:
                c.v1.customers.list()
                seen.append("ok")
            except stripe.RateLimitError:
                seen.append("429")
        return seen

    assert outcomes(as_account(sandbox, a), 5) == ["ok"] * 3 + ["429"] * 2  # a spent its burst ...
    assert outcomes(as_account(sandbox, b), 3) == ["ok"] * 3  # ... which leaves b's and the platform's whole
    assert outcomes(client, 3) == ["ok"] * 3
    assert outcomes(as_account(sandbox, a), 1) == ["429"]
    clock.advance(1 / 3 + 0.01)
    assert outcomes(as_account(sandbox, a), 2) == ["ok", "429"]


def test_webhooks_reach_connect_account_and_platform_endpoints_by_account(
        client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    connect, platform_only, own_a = Receiver(), Receiver(), Receiver()
    try:
        a, b = (client.v1.accounts.create({"type": "custom"}).id for _ in range(2))
        connect_endpoint = client.v1.webhook_endpoints.create(
            {"url": connect.url, "enabled_events": ["*"], "connect": True})
        connect.secret = connect_endpoint.secret
        platform_only.secret = client.v1.webhook_endpoints.create(
            {"url": platform_only.url, "enabled_events": ["*"]}).secret
        own_endpoint = as_account(sandbox, a).v1.webhook_endpoints.create(
            {"url": own_a.url, "enabled_events": ["customer.created"]})
        own_a.secret = own_endpoint.secret
        with pytest.raises(stripe.InvalidRequestError, match="connect"):
            as_account(sandbox, a).v1.webhook_endpoints.create({"url": own_a.url, "enabled_events": ["*"],
                                                                "connect": True})
        cus_a = as_account(sandbox, a).v1.customers.create({"email": "a@example.com"})
        cus_b = as_account(sandbox, b).v1.customers.create({"email": "b@example.com"})
        mine = client.v1.customers.create({"email": "p@example.com"})
        connect.wait_for(lambda: len(connect.verified) == 2)
        platform_only.wait_for(lambda: len(platform_only.verified) == 1)
        own_a.wait_for(lambda: len(own_a.verified) == 1)
        # Every delivery verified with its endpoint's own secret (Receiver rejects a wrong one with 400).
        assert sorted((e.account, e.data.object.id) for e in connect.verified) == sorted([(a, cus_a.id),
                                                                                          (b, cus_b.id)])
        assert [e.data.object.id for e in platform_only.verified] == [mine.id]
        assert "account" not in json.loads(platform_only.raw[0][0])
        assert [(e.account, e.data.object.id) for e in own_a.verified] == [(a, cus_a.id)]
        event_a = as_account(sandbox, a).v1.events.list().data[0]
        wait_until(lambda: as_account(sandbox, a).v1.events.retrieve(event_a.id).pending_webhooks == 0)
        reached = {at["endpoint"] for at in sandbox.webhooks.attempts if at["event"] == event_a.id and at["ok"]}
        assert reached == {connect_endpoint.id, own_endpoint.id}  # counted down from 2 as each was reached
    finally:
        for r in (connect, platform_only, own_a):
            r.server.shutdown()
            r.server.server_close()


def test_control_endpoints_act_in_the_account_of_the_header(client: stripe.StripeClient,
                                                            sandbox: StripeSandbox) -> None:
    import requests

    a = client.v1.accounts.create({"type": "custom"}).id
    in_a = as_account(sandbox, a)
    customer = in_a.v1.customers.create({"email": "c@example.com"})
    invoice = in_a.v1.invoices.create({"customer": customer.id})
    in_a.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": 500, "currency": "usd"})
    http = requests.Session()
    http.trust_env = False
    answer = http.post(f"{sandbox.url}/_sandbox/automatic", json={"invoice": invoice.id, "action": "pay"},
                       headers={"Stripe-Account": a})
    assert answer.status_code == 200 and answer.json()["status"] == "paid"
    on_platform = http.post(f"{sandbox.url}/_sandbox/automatic", json={"invoice": invoice.id, "action": "pay"})
    assert on_platform.status_code == 404 and on_platform.json()["error"]["code"] == "resource_missing"
    nobody = http.post(f"{sandbox.url}/_sandbox/automatic", json={"invoice": invoice.id, "action": "pay"},
                       headers={"Stripe-Account": "acct_1Nobody000000000"})
    assert nobody.status_code == 404 and "no connected account" in nobody.json()["error"]


def test_connected_accounts_survive_a_restart_with_distinct_ids(tmp_path: Path) -> None:
    data = str(tmp_path / "stripe.json")
    with StripeSandbox(rate_limit=None, data_file=data, seed=7) as first:
        platform = as_account(first, None)
        a, b = (platform.v1.accounts.create({"type": "custom"}).id for _ in range(2))
        made = {acct: as_account(first, acct).v1.customers.create({"email": f"{acct}@example.com"},
                                                                  {"idempotency_key": "same-key"}).id
                for acct in (a, b)}
    assert made[a] != made[b]  # one seed, two accounts: never the same id
    with StripeSandbox(rate_limit=None, data_file=data, seed=7) as second:
        assert [c.id for c in as_account(second, a).v1.customers.list().data] == [made[a]]
        assert [c.id for c in as_account(second, b).v1.customers.list().data] == [made[b]]
        again = as_account(second, b).v1.customers.create({"email": f"{b}@example.com"},
                                                          {"idempotency_key": "same-key"})
        assert again.id == made[b]  # b's key came back with b, and replays b's answer
        assert as_account(second, None).v1.customers.list().data == []
