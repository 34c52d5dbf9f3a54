"""Domains: ``get_domain("streaming")``; users add theirs as a folder with a
``domain.yaml`` (``actions.domains.folder``), to ``DOMAINS``, by entry point (group
``vtk.domains``) or a dotted path ``package.module:DOMAIN``."""

from __future__ import annotations

from actions.domains.base import DOMAINS, Domain, domain_names, get_domain
from actions.domains.rules import Derived, Match

__all__ = ["DOMAINS", "Derived", "Domain", "Match", "domain_names", "get_domain"]
