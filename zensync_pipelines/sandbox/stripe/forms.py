"""Stripe's v1 request encoding: form fields with bracketed keys, and the validation Stripe applies to them.

The SDK sends `metadata[k]=v`, `expand[0]=x` and `lines[0][amount]=5`; curl users often send `expand[]=x`. Both
decode to the same nested dicts and lists here, so handlers never see the wire format.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Optional
from urllib.parse import parse_qsl

from .errors import validation

_SEGMENT = re.compile(r"\[([^\[\]]*)\]")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Free-form maps whose keys are user data: numeric keys there are not list indexes.
_MAPS = {"metadata", "invoice_metadata"}


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        head = key.split("[", 1)[0]
        path = [head] + _SEGMENT.findall(key[len(head):])
        node = root
        for part in path[:-1]:
            part = part or str(len(node))  # `[]` appends: give it the next index, _listify does the rest
            if not isinstance(node.get(part), dict):
                node[part] = {}  # a later nested key wins over an earlier scalar, as in Rack's parser
            node = node[part]
        node[path[-1] or str(len(node))] = value
    return _listify(root, None)


def _listify(value: Any, name: Optional[str]) -> Any:
    if isinstance(value, list):
        return [_listify(v, None) for v in value]
    if not isinstance(value, dict):
        return value
    if name not in _MAPS and value and all(k.isdigit() for k in value):
        return [_listify(value[k], None) for k in sorted(value, key=int)]
    return {k: _listify(v, k) for k, v in value.items()}


def decode_body(body: bytes) -> dict[str, Any]:
    return decode(parse_qsl(body.decode("utf-8"), keep_blank_values=True))


def decode_query(query: dict[str, list[str]]) -> dict[str, Any]:
    return decode((k, v) for k, values in query.items() for v in values)


class Params:
    """Typed, validated access to one request's parameters.

    `allow` lists every top-level parameter the endpoint models; anything else is refused with Stripe's
    `parameter_unknown` rather than silently ignored, so a sync that relies on an unmodelled field fails loudly.
    """

    def __init__(self, raw: dict[str, Any], allow: Iterable[str] = ()):
        self.raw = raw
        allowed = set(allow) | {"expand"}
        for name in raw:
            if name not in allowed:
                raise validation(f"Received unknown parameter: {name}", "parameter_unknown", name)

    def __contains__(self, name: str) -> bool:
        return name in self.raw

    def str(self, name: str, required: bool = False, default: Optional[str] = None) -> Optional[str]:
        if name not in self.raw:
            if required:
                raise validation(f"Missing required param: {name}.", "parameter_missing", name)
            return default
        value = self.raw[name]
        if not isinstance(value, str):
            raise validation(f"Invalid string: {value!r}", "parameter_invalid_string", name)
        return value or None

    def int(self, name: str, required: bool = False, default: Optional[int] = None,
            low: Optional[int] = None, high: Optional[int] = None) -> Optional[int]:
        text = self.str(name, required)
        if text is None:
            return default
        if not re.fullmatch(r"-?\d+", text):
            raise validation(f"Invalid integer: {text}", "parameter_invalid_integer", name)
        number = int(text)
        if low is not None and number < low:
            raise validation(f"This value must be greater than or equal to {low}.", "parameter_invalid_integer", name)
        if high is not None and number > high:
            raise validation(f"This value must be less than or equal to {high}.", "parameter_invalid_integer", name)
        return number

    def bool(self, name: str, default: Optional[bool] = None) -> Optional[bool]:
        text = self.str(name)
        if text is None:
            return default
        if text not in ("true", "false"):
            raise validation(f"Invalid boolean: {text}", "parameter_invalid_boolean", name)
        return text == "true"

    def enum(self, name: str, choices: Iterable[str], default: Optional[str] = None) -> Optional[str]:
        value = self.str(name, default=default)
        options = list(choices)
        if value is not None and value not in options:
            raise validation(f"Invalid {name}: must be one of {', '.join(options)}", "parameter_invalid_string", name)
        return value

    def email(self, name: str = "email") -> Optional[str]:
        value = self.str(name)
        if value is not None and not EMAIL.match(value):
            raise validation(f"Invalid email address: {value}", "email_invalid", name)
        return value

    def dict(self, name: str, allow: Iterable[str]) -> Optional[dict[str, Any]]:
        value = self.raw.get(name)
        if value is None:
            return None
        if value == "":
            return {}  # an empty string unsets a hash in Stripe's encoding
        if not isinstance(value, dict):
            raise validation(f"Invalid object: {name}", "parameter_invalid_object", name)
        allowed = set(allow)
        for key in value:
            if key not in allowed:
                raise validation(f"Received unknown parameter: {name}[{key}]", "parameter_unknown", f"{name}[{key}]")
        return value

    def list(self, name: str) -> Optional[list[Any]]:
        value = self.raw.get(name)
        if value is None:
            return None
        if value == "":
            return []  # Stripe lets an empty string clear a list
        if not isinstance(value, list):
            raise validation(f"Invalid array: {name}", "parameter_invalid_array", name)
        return value

    def metadata(self, name: str = "metadata") -> Optional[dict[str, str]]:
        """The metadata patch: `{}` for `metadata=` (unset all), keys mapped to "" are removals."""
        if name not in self.raw:
            return None
        value = self.raw[name]
        if value == "":
            return {}
        if not isinstance(value, dict):
            raise validation("Invalid metadata: must be a hash", "parameter_invalid_object", name)
        if len(value) > 50:
            raise validation("Metadata can have at most 50 keys.", "parameter_invalid_object", name)
        for key, item in value.items():
            if len(key) > 40 or "[" in key or "]" in key:
                raise validation(f"Invalid metadata key: {key!r} (max 40 characters, no square brackets)",
                                 "parameter_invalid_string", f"{name}[{key}]")
            if not isinstance(item, str) or len(item) > 500:
                raise validation(f"Metadata values can have up to 500 characters, but `{key}` does not comply.",
                                 "parameter_invalid_string", f"{name}[{key}]")
        return value

    @property
    def expand(self) -> list[str]:
        return self.list("expand") or []


def merge_metadata(current: dict[str, str], patch: Optional[dict[str, str]]) -> dict[str, str]:
    if patch is None:
        return current
    if patch == {}:
        return {}
    merged = dict(current)
    for key, value in patch.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
