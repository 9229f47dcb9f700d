"""Callbox appliance: the on-premise web call center box."""

__version__ = "0.1.0"
