"""Catalog row -> external payload: mapping, type coercion, validation and the payload's fingerprint."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Mapping, Optional

from .mapper import EMAIL, FieldError, coerce, mapper_for
from .spec import ExternalObject

__all__ = ["EMAIL", "FieldError", "build_payload", "coerce", "fingerprint"]

# json.dumps with options builds a new encoder per call. The C encoder behind it, made once without the
# circular-reference bookkeeping (a payload built from a row has no cycles), writes the very same text in half the
# time; where the C accelerator is missing the shared Python encoder does.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_SAMPLE = {"b": [1, 2.5, None, True], "a": {"é": "x"}}


def _c_encoder() -> Optional[Callable[[Any, int], Any]]:
    try:
        encode = json.encoder.c_make_encoder(None, str, json.encoder.encode_basestring_ascii, None, ":", ",",
                                             True, False, True)
        same = "".join(encode(_SAMPLE, 0)) == _CANONICAL.encode(_SAMPLE)
    except (AttributeError, TypeError):  # no accelerator, or a Python whose encoder takes other arguments
        return None
    return encode if same else None


_C_ENCODE = _c_encoder()


def _canonical(payload: Mapping[str, Any]) -> str:
    if _C_ENCODE is not None:
        try:
            return "".join(_C_ENCODE(payload, 0))
        except RecursionError:
            pass  # a cyclic value: the checking encoder below reports it as json.dumps always did
    return _CANONICAL.encode(payload)


def build_payload(
    obj: ExternalObject, row: Mapping[str, Any], references: Optional[Mapping[str, Optional[str]]] = None
) -> tuple[dict[str, Any], list[FieldError]]:
    """Map a row to the object's payload. Every field is checked, so one pass reports all of a row's errors.

    `references` holds the already resolved external id for each referencing field's target.
    """
    return mapper_for(obj).build(row, references)


def fingerprint(payload: Mapping[str, Any]) -> str:
    """Stable hash of the mapped payload: equal payloads, equal fingerprints, whatever the key order.

    Mapping tables in users' databases hold these: the canonical text must never change, or every row of every
    catalog would look changed and be rewritten once.
    """
    return hashlib.sha256(_canonical(payload).encode()).hexdigest()
