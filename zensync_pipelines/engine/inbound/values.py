"""External value -> catalog value for inbound fields: read from the object, reverse-mapped, checked.

The checks are the outbound ones (type, length, email, choices), so a value the catalog takes back is one zensync
could send out again unchanged; what fails them fails the event with the field and the reason.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Mapping, Optional

from ..mapper import _parse_datetime, coerce
from ..spec import Field, InvalidValue


def external_value(state: Mapping[str, Any], target: str) -> Any:
    """The value at a dotted target ("address.line1") of the object's state; None when any level is missing."""
    value: Any = state
    for key in target.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _native(field: Field, value: Any) -> Any:
    """What the catalog column stores: datetimes and dates as Python objects, everything else as checked."""
    if field.type == "datetime":
        return _parse_datetime(value)
    if field.type == "date" and not isinstance(value, dt.date):
        return dt.date.fromisoformat(str(value)[:10])
    return value


def inbound_value(field: Field, raw: Any) -> Any:
    """The catalog value for an external value, or InvalidValue (code unknown_value, invalid_value, ...)."""
    if isinstance(raw, str) and not raw.strip():
        raw = None
    if field.inbound_values is not None and raw is not None:
        if raw not in field.inbound_values:
            raise InvalidValue(f"{raw!r} is not a known value (known: {', '.join(map(str, field.inbound_values))})",
                               "unknown_value")
        value = field.inbound_values[raw]
    elif field.inbound_transform is not None and raw is not None:
        value = field.inbound_transform(raw)
    else:
        value = raw
    if value is None:
        if field.required:
            raise InvalidValue("is required but empty", "required")
        return None
    checked = coerce(field, value)
    if field.choices is not None and checked not in field.choices:
        raise InvalidValue(f"{checked!r} is not one of {list(field.choices)}", "invalid_choice")
    return _native(field, checked if field.type not in ("date", "datetime") else value)


def comparable(field: Field, value: Any) -> Any:
    """A form in which equal catalog and external values compare equal (naive SQLite datetimes are UTC)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return coerce(field, value)
    except (InvalidValue, ValueError, TypeError):
        return repr(value)


def state_key(fields: list[Field], state: Mapping[str, Any]) -> str:
    """The inbound fields' raw values of a state, as one comparable text: equal keys, same change."""
    return json.dumps([external_value(state, f.target) for f in fields], sort_keys=True, default=str)


def as_utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def advanced_cursor(cursor: dt.datetime, occurred_at: dt.datetime) -> dt.datetime:
    """The cursor of a row a change just altered: when the change occurred, and always later than before. An
    event's time has whole seconds (Stripe's `created`), so a change within the second the row last moved would
    otherwise leave the cursor where it was, and the outbound sensors of other systems would never see it."""
    before = as_utc(cursor)
    assert before is not None
    return max(before, occurred_at) if occurred_at > before else before + dt.timedelta(microseconds=1)

