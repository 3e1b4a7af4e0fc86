"""The quickstart reproduces no single study: it is a tour of the package, so nothing is set beside its numbers."""
from __future__ import annotations

from helpers.headline import Reference

SOURCE = None
REFERENCE: dict[str, Reference] = {}
