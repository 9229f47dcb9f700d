"""Store of the customers, identity_proofs tables."""

from __future__ import annotations
