"""Reading what changed in Salesforce, with zensync's own credentials: records modified since a time (one SOQL
query), records deleted in a window (`/sobjects/<type>/deleted/`), the current state of records named by
notifications (one SOQL `IN` query per batch, never one call per record), and who zensync is in the org.

Every call goes through `SalesforceConnection`, so it is counted, retried when transient and re-authenticated on
an expired session like the outbound writes, and each first asks the API budget: once the configured share of the
daily allocation is used, reading stops with `BudgetSpent` instead of eating what outbound writes need.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Optional, Sequence, TypeVar

from simple_salesforce import Salesforce

from .connection import SalesforceConnection
from .ids import canonical
from .outbound import parse_datetime

T = TypeVar("T")
# Fields every change read needs besides the caller's: identity, time, author (echoes) and deletion.
SYSTEM_FIELDS = ("Id", "SystemModstamp", "CreatedDate", "LastModifiedById", "IsDeleted")
IN_CHUNK = 200  # ids per `IN (...)` query: ~4 KB of URL, far below the 16 KB SOQL and URL limits
DELETED_HISTORY = dt.timedelta(days=15)  # how far back /deleted answers


@dataclass(frozen=True)
class Identity:
    organization_id: str
    user_id: str  # the integration user: its LastModifiedById marks zensync's own writes (echoes)


@dataclass(frozen=True)
class Deletion:
    record_id: str
    deleted_at: dt.datetime


class ChangeReader:
    def __init__(self, connection: SalesforceConnection):
        self.connection = connection
        self._fields: dict[str, list[str]] = {}

    def _call(self, fn: Callable[[Salesforce], T]) -> T:
        self.connection.budget.ensure(1)
        return self.connection.call(fn)

    def identity(self) -> Identity:
        """Who zensync is logged in as (`/services/oauth2/userinfo`), as any OAuth client asks."""
        info = self._call(lambda sf: sf.oauth2("userinfo"))
        return Identity(canonical(info["organization_id"]) or info["organization_id"],
                        canonical(info["user_id"]) or info["user_id"])

    def fields(self, object_type: str) -> list[str]:
        """The object's field names, from one describe per object for the reader's lifetime."""
        if object_type not in self._fields:
            described = self._call(lambda sf: getattr(sf, object_type).describe())
            self._fields[object_type] = [f["name"] for f in described["fields"]]
        return self._fields[object_type]

    def modified_since(self, object_type: str, since: dt.datetime,
                       fields: Optional[Sequence[str]] = None) -> list[dict[str, Any]]:
        """Records (deleted ones in the recycle bin too) whose SystemModstamp is at or after `since`, oldest
        first. One query (more only when the answer spans pages). `since` is floored to the second: SOQL
        datetime literals have no fractions, and reading a little more is harmless to an idempotent inbox."""
        literal = since.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        soql = (f"SELECT {', '.join(_select(fields or self.fields(object_type)))} FROM {object_type} "
                f"WHERE SystemModstamp >= {literal} ORDER BY SystemModstamp, Id")
        answer = self._call(lambda sf: sf.query_all(soql, include_deleted=True))
        return [_plain(object_type, r) for r in answer["records"]]

    def deleted_between(self, object_type: str, start: dt.datetime, end: dt.datetime) -> tuple[list[Deletion],
                                                                                              dt.datetime]:
        """Records deleted in [start, end) and the latest time the answer covers (the next start)."""
        answer = self._call(lambda sf: getattr(sf, object_type).deleted(start, end))
        covered = parse_datetime(answer.get("latestDateCovered")) or end
        deletions = [Deletion(canonical(d["id"]) or d["id"], parse_datetime(d["deletedDate"]) or covered)
                     for d in answer.get("deletedRecords") or []]
        return deletions, covered

    def current(self, object_type: str, record_ids: Iterable[str],
                fields: Optional[Sequence[str]] = None) -> dict[str, Optional[dict[str, Any]]]:
        """The records as they are now, by 18-character id; None for an id Salesforce no longer has (hard
        deleted or never seen). Deleted records still in the recycle bin come back with IsDeleted true."""
        wanted = sorted({canonical(i) for i in record_ids} - {None})
        found: dict[str, Optional[dict[str, Any]]] = {i: None for i in wanted}
        columns = ", ".join(_select(fields or self.fields(object_type)))
        for start in range(0, len(wanted), IN_CHUNK):
            quoted = ", ".join(f"'{i}'" for i in wanted[start:start + IN_CHUNK])  # canonical ids: [A-Za-z0-9]
            soql = f"SELECT {columns} FROM {object_type} WHERE Id IN ({quoted})"
            for record in self._call(lambda sf, q=soql: sf.query_all(q, include_deleted=True))["records"]:
                found[canonical(record["Id"]) or record["Id"]] = _plain(object_type, record)
        return found


def _select(fields: Sequence[str]) -> list[str]:
    """The system fields, then the caller's, each once (SOQL refuses a field named twice, in any case)."""
    columns = list(SYSTEM_FIELDS)
    for name in fields:
        if name.lower() not in {c.lower() for c in columns}:
            columns.append(name)
    return columns


def _plain(object_type: str, record: dict[str, Any]) -> dict[str, Any]:
    """The REST record with `attributes` reduced to the type, the same shape outbound notifications are stored
    in, so the inbound policy reads pushed and polled changes alike."""
    return {"attributes": {"type": object_type}, **{k: v for k, v in record.items() if k != "attributes"}}
