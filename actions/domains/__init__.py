"""Domain action sets: ``get_domain("streaming")``; users add theirs to ``DOMAINS`` or by
entry point (group ``vtk.domains``) or a dotted path ``package.module:DOMAIN``."""

from __future__ import annotations

from actions.domains.base import DOMAINS, Domain, get_domain

__all__ = ["DOMAINS", "Domain", "get_domain"]
