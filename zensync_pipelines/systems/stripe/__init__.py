from .adapter import StripeAdapter
from .resource import StripeResource

__all__ = ["StripeAdapter", "StripeResource"]
