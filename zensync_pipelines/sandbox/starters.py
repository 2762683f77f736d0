"""The registry's sandbox starters for `zensync dev`: each starts a system's stand-in and says how to reach it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import config

SANDBOX_STRIPE_KEY = "sk_test_zensync_dev_sandbox"


def stripe_sandbox(data: Path, port: int) -> tuple[Any, dict[str, str]]:
    from .stripe import StripeSandbox

    sandbox = StripeSandbox(port=port, data_file=str(data / "stripe-sandbox.json")).start()
    return sandbox, {config.STRIPE_API_KEY: SANDBOX_STRIPE_KEY, config.STRIPE_API_BASE: sandbox.url}


def salesforce_sandbox(data: Path, port: int) -> tuple[Any, dict[str, str]]:
    from ..catalogs import load_specs
    from .salesforce import SalesforceSandbox
    from .salesforce.spec_fields import write_schema

    # The org knows every External ID field the specs declare (a new catalog's own), as an admin would add it.
    schema_file, _ = write_schema(data, load_specs())
    sandbox = SalesforceSandbox(port=port, data_file=str(data / "salesforce-sandbox.json"),
                                ca_file=str(data / "salesforce-sandbox-ca.pem"), schema_file=schema_file).start()
    return sandbox, {config.SALESFORCE_LOGIN_URL: sandbox.login_url, config.SALESFORCE_CLIENT_ID: "zensync-dev",
                     config.SALESFORCE_CLIENT_SECRET: "zensync-dev-sandbox",
                     config.SALESFORCE_CA_BUNDLE: sandbox.ca_file}
