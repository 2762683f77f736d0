"""What the generic handler (objects.py) and the invoice handler (invoices.py) share: the metadata keys that tie
a Stripe object to its catalog row, the per-row conflict, and the payload helpers. Kept in a module of its own so
that objects.py can register the invoice handler without invoices.py importing objects.py back.
"""

from __future__ import annotations

from typing import Any, Optional

ZENSKAR_ID = "zenskar_id"  # metadata key that ties a Stripe object to its catalog row
ZENSKAR_OBJECT = "zenskar_object"  # ... and to its object of the row, when the row has several of its type


class Conflict(Exception):
    """Stripe cannot take the change (e.g. a finalized invoice's lines): a per-row failure with a clear reason."""

    def __init__(self, code: str, message: str, field: Optional[str] = None):
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    return value


def clear_none(value: Any) -> Any:
    """Stripe clears a field (and removes a metadata key) when it is sent as an empty string."""
    if isinstance(value, dict):
        return {k: clear_none(v) for k, v in value.items()}
    return "" if value is None else value


def with_zenskar_id(payload: dict[str, Any], internal_id: str, tag: str = ZENSKAR_ID) -> dict[str, Any]:
    return payload | {"metadata": dict(payload.get("metadata") or {}) | {tag: internal_id}}


def tag_key(external_id_field: Optional[str]) -> str:
    """The metadata key a spec's `external_id_field` names (`metadata.zenskar_product_id`): a catalog's own tag on
    a plain object type another catalog writes too (systems/identity.py); zenskar_id when it names none."""
    return external_id_field.split(".", 1)[1] if external_id_field else ZENSKAR_ID


def tagged(obj: Any, key: str, value: str) -> bool:
    return bool(obj.metadata) and obj.metadata.to_dict().get(key) == value
