"""`zensync sandbox salesforce-edit`: change a record in a running Salesforce sandbox as a person would, through
the real API as the sandbox's second user (not zensync's integration user), so its outbound messages reach the
receiver as a sales-side edit and not as an echo."""

from __future__ import annotations

from typing import Sequence

import click
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from ..sandbox.salesforce.auth import SALES_USER_ID
from ..sandbox.salesforce.values import normalize_id

NEW = "new"


@click.command("salesforce-edit")
@click.option("--url", required=True, envvar="SALESFORCE_LOGIN_URL", show_envvar=True,
              help="The sandbox's URL (https://127.0.0.1:PORT).")
@click.option("--ca-file", required=True, envvar="SALESFORCE_CA_BUNDLE", show_envvar=True,
              type=click.Path(exists=True, dir_okay=False), help="The CA certificate the sandbox wrote.")
@click.option("--by", "by_field", metavar="FIELD",
              help="Find the record by this External ID field (e.g. a catalog's Zenskar_Contact_Id__c) instead of "
                   "by its Id or Zenskar_Id__c.")
@click.argument("sobject")
@click.argument("key")
@click.argument("changes", nargs=-1, required=True)
def command(url: str, ca_file: str, by_field: str | None, sobject: str, key: str, changes: Sequence[str]) -> None:
    """Set FIELD=VALUE on the SOBJECT record whose Id or Zenskar_Id__c (or --by FIELD) is KEY (KEY `new` creates
    one).

    Example: zensync sandbox salesforce-edit Account 1 Phone="+1 555 0100"
    """
    fields = {}
    for change in changes:
        name, sep, value = change.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{change!r} is not FIELD=VALUE", param_hint="CHANGES")
        fields[name] = value or None
    http = requests.Session()
    http.verify, http.trust_env = ca_file, False
    token = http.post(f"{url.rstrip('/')}/_sandbox/session", json={"user_id": SALES_USER_ID}, timeout=30)
    token.raise_for_status()
    sf = Salesforce(instance_url=url.rstrip("/"), session_id=token.json()["access_token"], session=http)
    kind = getattr(sf, sobject)
    try:
        if key == NEW:
            record_id = kind.create(fields)["id"]
        else:
            record_id = (None if by_field else normalize_id(key)) or \
                kind.get_by_custom_id(by_field or "Zenskar_Id__c", key)["Id"]
            kind.update(record_id, fields)
    except SalesforceError as refused:  # no such record, object or field: Salesforce's own words, in one line
        found = refused.content[0] if isinstance(refused.content, list) and refused.content else {}
        reason = found.get("message") if isinstance(found, dict) else None
        raise click.ClickException(f"{sobject} {key}{f' by {by_field}' if by_field else ''}: "
                                   f"{reason or refused}") from None
    click.echo(f"{sobject} {record_id}: {', '.join(f'{k}={v!r}' for k, v in fields.items())}")
