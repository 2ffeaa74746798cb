"""Elastic Identifier Grounding: map generated Term IDs to catalog items."""

from grlm.ground.grounder import BatchResult, Grounder, GroundResult

__all__ = ["BatchResult", "GroundResult", "Grounder"]
