"""Elastic Identifier Grounding: map generated Term IDs to catalog items."""

from grlm.ground.grounder import BatchResult, Grounder, GroundResult
from grlm.ground.updates import CatalogChange, apply_catalog_change

__all__ = ["BatchResult", "CatalogChange", "GroundResult", "Grounder", "apply_catalog_change"]
