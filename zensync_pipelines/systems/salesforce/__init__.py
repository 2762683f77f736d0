from .adapter import SalesforceAdapter
from .auth import SalesforceAuthError
from .resource import SalesforceResource, salesforce_resource_from_env

__all__ = ["SalesforceAdapter", "SalesforceAuthError", "SalesforceResource", "salesforce_resource_from_env"]
