"""Callbox relay: the public door that moves packets and reads none of them."""

__version__ = "0.1.0"
