"""An external object's field mapping, prepared once and applied to every row.

A reconcile maps each of a million unchanged rows only to learn that its fingerprint did not move, so the
per-row work matters. Everything that depends on the spec alone (which checks a field needs, how its dotted
target nests, which fields reference other catalogs) is decided here once per object; the common field (text
or email, no transform, no reference, no choices) then costs a few comparisons. Results, error messages and
error order are exactly those of the general path, which every other field still takes.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from .spec import ExternalObject, Field, InvalidValue

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

References = Optional[Mapping[str, Optional[str]]]
Step = Callable[[Mapping[str, Any], References], Any]  # the field's payload value, or raises InvalidValue


@dataclass(frozen=True)
class FieldError:
    column: str
    target: str
    reason: str
    code: str = "invalid_value"


def _parse_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise InvalidValue(f"expected a datetime, got {type(value).__name__}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def coerce(field: Field, value: Any) -> Any:
    """Normalise a value to the field's type so equal data always fingerprints equally."""
    kind = field.type
    if kind in ("string", "email"):
        text = value if isinstance(value, str) else str(value)
        if kind == "email" and not EMAIL.match(text):
            raise InvalidValue(f"{text!r} is not an email address", "invalid_email")
        if field.max_length is not None and len(text) > field.max_length:
            raise InvalidValue(f"{len(text)} characters, longer than the maximum {field.max_length}", "too_long")
        return text
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, (int, str, decimal.Decimal, float)):
            raise InvalidValue(f"expected an integer, got {type(value).__name__}")
        try:
            number = decimal.Decimal(str(value))
        except decimal.InvalidOperation:
            raise InvalidValue(f"{value!r} is not an integer") from None
        if number != number.to_integral_value():
            raise InvalidValue(f"{value!r} is not an integer")
        return int(number)
    if kind == "decimal":
        try:
            return float(decimal.Decimal(str(value)))
        except decimal.InvalidOperation:
            raise InvalidValue(f"{value!r} is not a number") from None
    if kind == "boolean":
        if isinstance(value, bool) or value in (0, 1):
            return bool(value)
        raise InvalidValue(f"expected true or false, got {value!r}")
    if kind == "date":
        if isinstance(value, dt.datetime):
            return value.date().isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            return dt.date.fromisoformat(str(value)[:10]).isoformat()
        except ValueError:
            raise InvalidValue(f"{value!r} is not a date") from None
    if kind == "datetime":
        try:
            return _parse_datetime(value).astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        except ValueError:
            raise InvalidValue(f"{value!r} is not a datetime") from None
    return value  # "object": passed through as the transform built it


def _general(field: Field) -> Step:
    """Any field: reference, transform, blank-as-empty, required, type coercion, choices, in that order."""

    def step(row: Mapping[str, Any], references: References) -> Any:
        value = row.get(field.column)
        if field.references is not None and value is not None:
            value = (references or {}).get(field.target)
        elif field.same_row is not None:  # the id of the row's other object, resolved by the planner
            value = (references or {}).get(field.target)
        if field.transform is not None and value is not None:
            value = field.transform(value, *(row.get(column) for column in field.extra_columns))
        if isinstance(value, str) and not value.strip():
            value = None
        if value is None:
            if field.required:
                raise InvalidValue("is required but empty", "required")
        else:
            value = coerce(field, value)
            if field.choices is not None and value not in field.choices:
                raise InvalidValue(f"{value!r} is not one of {list(field.choices)}", "invalid_choice")
        return value

    return step


def field_value(field: Field, row: Mapping[str, Any], references: References = None) -> Any:
    """One field's payload value for a row (InvalidValue when the row's value fails the field's checks)."""
    return _general(field)(row, references)


def _plain(field: Field) -> Optional[tuple[Optional[Callable[[str], Any]], int]]:
    """(email matcher, length limit) of a text or email field with no transform, reference or choices: for a
    non-blank str that passes both, the general path returns the value itself, so `Mapper.build` accepts it
    inline and sends anything else (blank, too long, not a str) the general way."""
    if field.references is None and field.same_row is None and field.transform is None \
            and field.choices is None and field.type in ("string", "email"):
        limit = field.max_length if field.max_length is not None else sys.maxsize
        return (EMAIL.match if field.type == "email" else None), limit
    return None


class Mapper:
    """Maps rows to one external object's payload; `mapper_for` keeps one per object."""

    def __init__(self, obj: ExternalObject):
        # Inbound-only fields never reach the payload (nor its fingerprint): the system owns them.
        self.reference_fields = tuple(f for f in obj.outbound_fields if f.references is not None)
        self.same_row_fields = tuple(f for f in obj.outbound_fields if f.same_row is not None)
        self._steps: list[tuple[Any, ...]] = []
        for f in obj.outbound_fields:
            *parents, leaf = f.target.split(".")
            plain = _plain(f)
            match, limit = plain if plain is not None else (None, 0)
            self._steps.append((f.column, f.target, plain is not None, match, limit, _general(f), tuple(parents),
                                leaf))

    def build(self, row: Mapping[str, Any], references: References = None) -> tuple[dict[str, Any], list[FieldError]]:
        payload: dict[str, Any] = {}
        errors: list[FieldError] = []
        get = row.get
        for column, target, plain, match, limit, general, parents, leaf in self._steps:
            try:
                if plain:
                    value = get(column)
                    if value.__class__ is not str or len(value) > limit or not value.strip() \
                            or (match is not None and not match(value)):
                        value = general(row, references)
                else:
                    value = general(row, references)
            except InvalidValue as bad:
                errors.append(FieldError(column, target, bad.reason, bad.code))
                continue
            except Exception as bad:  # a user's transform must not stop the batch
                errors.append(FieldError(column, target, f"transform failed: {bad}", "transform_error"))
                continue
            if parents:
                place = payload
                for key in parents:
                    place = place.setdefault(key, {})
                place[leaf] = value
            else:
                payload[leaf] = value
        return payload, errors


# Keyed by id(): specs are frozen but hold lists, so unhashable. The object is kept beside its mapper so that an
# id is never reused while its entry lives; specs are few and live as long as the code location does.
_MAPPERS: dict[int, tuple[ExternalObject, Mapper]] = {}


def mapper_for(obj: ExternalObject) -> Mapper:
    entry = _MAPPERS.get(id(obj))
    if entry is None or entry[0] is not obj:
        if len(_MAPPERS) > 4096:  # only tests build specs by the thousand; never let that grow without bound
            _MAPPERS.clear()
        entry = _MAPPERS[id(obj)] = (obj, Mapper(obj))
    return entry[1]
