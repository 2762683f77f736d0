"""A local, stateful stand-in for the Stripe API that the real `stripe` SDK talks to (see docs/sandbox.md)."""

from .clock import ManualClock
from .server import StripeSandbox

__all__ = ["ManualClock", "StripeSandbox"]
