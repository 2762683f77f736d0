"""A local, stateful HTTPS stand-in for Salesforce that the real simple-salesforce client talks to."""

from .server import SalesforceKnobs, SalesforceSandbox

__all__ = ["SalesforceKnobs", "SalesforceSandbox"]
