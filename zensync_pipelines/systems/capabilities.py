"""What a system can do to an object type, declared by the system and checked when a spec loads.

A spec that asks for what a system cannot do (delete a Stripe refund, replace a Salesforce record) is refused
with the object's name and what to declare instead, long before a run would fail on it row by row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Capabilities:
    exists: bool = True  # the system has such an object type at all
    delete: bool = True  # zensync can delete or retire it (`retire` says how)
    replace: bool = False  # a change can create a new object and retire the old one (replace_on_change)
    retire: Optional[str] = "delete"
    lookup: bool = False  # can find an existing object by a field's value (ExternalObject.lookup)
    several: bool = False  # a row can have several objects of this type (ExternalObject.key), told apart there
    # Where an object carries its catalog row's id when the spec names no `external_id_field` (Stripe: a metadata
    # tag), and whether a spec may name a field of its own: two catalogs writing one object type need one each.
    identity: Optional[str] = None
    custom_identity: bool = True
    # Whether the system's inbound path reads a declared field (Salesforce) or only `identity` (Stripe's webhooks
    # and polls route by metadata.zenskar_id): a declared field on an object read back is refused where it is not.
    custom_identity_inbound: bool = True


def everything(object_type: str) -> Capabilities:
    """For systems whose every object type can be created, updated and deleted (and nothing more)."""
    return Capabilities()
