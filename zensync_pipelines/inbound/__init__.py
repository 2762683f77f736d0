"""The webhook receiver: verified events from external systems into the durable inbox, acknowledged after commit."""
