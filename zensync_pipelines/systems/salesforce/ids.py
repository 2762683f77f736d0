"""Salesforce record ids: the 15-character case-sensitive form and the 18-character case-safe one.

The three extra characters encode, per 5-character chunk, which letters are upper case (bit i set: character i
is an upper-case letter), so an 18-character id survives systems that ignore case. Both forms name the same
record; comparing them means widening both to 18 characters, after checking the suffix really is the checksum.
"""

from __future__ import annotations

import re
from typing import Optional

_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_FORM = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


_UPPER_BITS = str.maketrans({chr(c): "1" if 65 <= c <= 90 else "0" for c in range(128)})


def checksum(id15: str) -> str:
    """The 3-character case-safe suffix of a 15-character id (the receiver computes one per notification: the
    bits come from one str.translate, not a loop per character)."""
    flags = id15.translate(_UPPER_BITS)
    return _SUFFIX[int(flags[4::-1], 2)] + _SUFFIX[int(flags[9:4:-1], 2)] + _SUFFIX[int(flags[14:9:-1], 2)]


def canonical(value: str) -> Optional[str]:
    """The 18-character form of `value`, or None when it is not a Salesforce id.

    A 15-character id is taken as written (it is case-sensitive). An 18-character id is case-insensitive: its
    suffix says which letters of the first 15 are upper case, so the case is restored from the suffix, and an id
    whose suffix cannot be the checksum of any 15-character id (an upper-case bit on a digit) is refused.
    """
    if not isinstance(value, str) or not _FORM.match(value):
        return None
    if len(value) == 15:
        return value + checksum(value)
    head, suffix = value[:15], value[15:].upper()
    if checksum(head) == suffix:
        return head + suffix  # the case as written is the case the suffix says (the usual case)
    restored = []
    for chunk, code in enumerate(suffix):
        bits = _SUFFIX.index(code)
        for offset, char in enumerate(head[chunk * 5:chunk * 5 + 5]):
            upper = bool(bits >> offset & 1)
            if upper and not char.isalpha():
                return None
            restored.append(char.upper() if upper else char.lower())
    return "".join(restored) + suffix  # restored this way, the suffix is exactly the checksum of the head


def same_id(left: str, right: str) -> bool:
    """Whether two ids, each in either form, name the same record or org."""
    a, b = canonical(left), canonical(right)
    return a is not None and a == b
