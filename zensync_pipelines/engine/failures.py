"""An adapter that breaks on a batch: which exceptions stop the run, and what the others become.

An adapter answers every operation with an Outcome and raises only when the whole run must stop. An exception
it did not mean to raise (a bug, an SDK surprise: `AttributeError`, `KeyError`, ...) is not a reason to crash the
step and leave the batch's rows `pending`: it becomes one failure per operation of the call, naming the
exception, and the rows are retried by the next run like any failed row.

An outage is different: an unreachable or refusing system fails the run. Network errors (every `OSError`,
which `requests`' and `urllib3`'s connection errors are), any `Outage`, and whatever the adapter lists in
`outage_errors` (an SDK's own authentication error) propagate unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from .types import FAILED, Operation, Outcome

UNEXPECTED = "adapter_error"
MAX_MESSAGE = 500

# Credentials an exception text may carry (a URL with a password, a header, a key in a message): never stored.
_SECRETS = [
    (re.compile(r"\b(sk|rk|pk)_(test|live)_[A-Za-z0-9_]+"), r"\1_\2_***"),
    (re.compile(r"(?i)\b(bearer|basic|oauth)\s+[A-Za-z0-9._~+/=!-]+"), r"\1 ***"),
    (re.compile(r"(?i)(://[^/\s:@]+:)[^@\s/]+@"), r"\1***@"),
    (re.compile(r"(?i)\b(password|passwd|secret|client_secret|token|security_token|api_key|apikey|session_id|"
                r"sessionid|authorization)(\s*[=:]\s*|\"\s*:\s*\"|'\s*:\s*')[^\s,;&\"'}]+"), r"\1\2***"),
]


def scrub(text: str) -> str:
    """`text` without anything that looks like a credential, cut to a readable length."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + "..."


class Outage(Exception):
    """Raised (or subclassed) by an adapter when the system is down or refuses us: the run fails, whatever wraps
    the adapter."""


def is_outage(adapter: Any, error: BaseException) -> bool:
    return isinstance(error, (OSError, Outage)) or isinstance(error, tuple(getattr(adapter, "outage_errors", ())))


def batch_failures(operations: Sequence[Operation], error: BaseException) -> list[Outcome]:
    """One failed Outcome per operation of the call that raised `error`."""
    name = type(error).__name__
    message = scrub(f"{name}: {error}" if str(error) else name)
    return [Outcome.of(op, FAILED, error_code=UNEXPECTED, error_message=message) for op in operations]
