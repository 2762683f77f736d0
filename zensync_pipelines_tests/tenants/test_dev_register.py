"""What `zensync dev --tenants N` registers, over the real sandboxes: each tenant on its own connected account and
org, reachable with its refresh token; started again, the same ones, with nothing seeded twice."""

import stripe

from zensync_pipelines.cli.dev_tenants import refresh_variable, register_tenants
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store.tenants import TenantStore

KEY = "sk_test_dev_tenants"


def test_dev_tenants_get_their_own_account_and_org_and_keep_them(engine, stripe_sandbox):
    with SalesforceSandbox() as sb:
        outbound = "http://127.0.0.1:9/webhooks/salesforce/token"
        made, environment = register_tenants(engine, 2, KEY, stripe_sandbox.url, sb, outbound, customers=3)
        assert [t.id for t in made] == ["t1", "t2"]
        assert [t.seeded for t in made] == [3 + 5, 3 + 5]
        assert len({t.stripe_account for t in made}) == 2 and len({t.salesforce_org for t in made}) == 2
        platform = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox.url})
        assert {a.metadata["tenant"] for a in platform.v1.accounts.list().auto_paging_iter()} == {"t1", "t2"}
        for tenant in made:
            registered = TenantStore(engine).get(tenant.id)
            assert (registered.stripe_account, registered.salesforce_org) == (tenant.stripe_account,
                                                                              tenant.salesforce_org)
            # Only a reference is stored; the token itself is handed to the dagster process's environment.
            assert registered.salesforce_refresh_token == f"env:{refresh_variable(tenant.id)}"
            assert environment[refresh_variable(tenant.id)] not in str(registered)
            assert sb.org(tenant.salesforce_org).outbound is not None
            assert sb.org(tenant.salesforce_org).id != sb.org().id  # not the deployment's own org

        again, _ = register_tenants(engine, 2, KEY, stripe_sandbox.url, sb, outbound, customers=3)
        assert [(t.stripe_account, t.salesforce_org, t.seeded) for t in again] == [
            (t.stripe_account, t.salesforce_org, 0) for t in made]
        assert len(sb.orgs.all()) == 3
        # A sandbox that lost t1's account (its state file removed) gives t1 a new one; t2 keeps its own.
        platform.v1.accounts.delete(made[0].stripe_account)
        third, _ = register_tenants(engine, 2, KEY, stripe_sandbox.url, sb, outbound, customers=3)
        assert third[0].stripe_account not in (made[0].stripe_account, made[1].stripe_account)
        assert TenantStore(engine).get("t1").stripe_account == third[0].stripe_account
        assert third[1].stripe_account == made[1].stripe_account
