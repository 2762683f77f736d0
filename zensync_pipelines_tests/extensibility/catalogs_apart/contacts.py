"""The contacts spec done right: its own External ID field on Contact."""

from ..contacts import OWN_FIELD, contacts_spec

SPEC = contacts_spec(OWN_FIELD)
