"""The obvious contacts spec: it upserts Contacts on Zenskar_Id__c, the customers catalog's field."""

from zensync_pipelines.catalogs.customers import ZENSKAR_ID

from ..contacts import contacts_spec

SPEC = contacts_spec(ZENSKAR_ID)
