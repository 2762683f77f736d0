"""Turning client values into stored ones the way Salesforce validates them, plus its id and date formats."""

from __future__ import annotations

import datetime
import re
from typing import Any, Optional

from .errors import RecordError
from .schema import NUMBER_TYPES, TEXT_TYPES, Field

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def id18(id15: str) -> str:
    """Salesforce's case-safe suffix: one char per 5-char chunk encoding which letters are upper case."""
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, char in enumerate(id15[start : start + 5]) if "A" <= char <= "Z")
        suffix += _SUFFIX[bits]
    return id15 + suffix


def make_id(prefix: str, pod: str, sequence: int) -> str:
    digits = ""
    while sequence or not digits:
        sequence, rest = divmod(sequence, 62)
        digits = _BASE62[rest] + digits
    return id18(prefix + pod + digits.rjust(10, "0"))


def normalize_id(value: Any) -> Optional[str]:
    """15-char ids are accepted and widened, like Salesforce; anything else is not an id."""
    if not isinstance(value, str) or not _ID.match(value):
        return None
    return id18(value[:15])


def now_iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> Optional[float]:
    """ISO 8601 with Z, +hh:mm or +hhmm offsets (Salesforce emits +0000); None when it is not a datetime."""
    cleaned = text.strip().replace("Z", "+00:00")
    cleaned = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", cleaned)
    try:
        moment = datetime.datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _bad_type(f: Field, value: Any) -> RecordError:
    return RecordError.one("INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.name}: value not of required type: {value}",
                           [f.name])


def coerce(f: Field, value: Any) -> Any:
    """The stored form of `value` for field `f`, or a RecordError with Salesforce's code for the problem."""
    if value is None or value == "":
        return None  # Salesforce stores empty text as null
    if f.type in TEXT_TYPES:
        text = value if isinstance(value, str) else str(value)
        if f.length and len(text) > f.length:
            raise RecordError.one(
                "STRING_TOO_LONG", f"{f.name}: data value too large: {text} (max length={f.length})", [f.name]
            )
        if f.type == "email" and not _EMAIL.match(text):
            raise RecordError.one("INVALID_EMAIL_ADDRESS", f"{f.name}: invalid email address: {text}", [f.name])
        return text
    if f.type in NUMBER_TYPES:
        if isinstance(value, bool):
            raise _bad_type(f, value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise _bad_type(f, value) from None
        return int(number) if f.type == "int" else number
    if f.type == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        raise _bad_type(f, value)
    if f.type == "date":
        text = str(value)[:10] if isinstance(value, str) and "T" in value else str(value)
        if not _DATE.match(text):
            raise _bad_type(f, value)
        return text
    if f.type == "datetime":
        epoch = parse_datetime(str(value))
        if epoch is None:
            raise _bad_type(f, value)
        return now_iso(epoch)
    return value
