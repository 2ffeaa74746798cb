"""What a catalog store holds besides its changes: the catalog's fixed settings and the catalog
itself at one version."""

from __future__ import annotations

from dataclasses import dataclass

from grlm.ground.grounder import Grounder, Mode


@dataclass(frozen=True)
class CatalogConfig:
    """The settings a catalog keeps for its whole life (a change cannot alter them)."""

    mode: Mode
    weights: tuple[float, ...]
    term_id_length: int

    @classmethod
    def of(cls, grounder: Grounder) -> CatalogConfig:
        return cls(grounder.mode, tuple(grounder.weights), grounder.term_id_length)


@dataclass(frozen=True)
class StoreCatalog:
    """The catalog a store holds at ``version``: ``term_ids`` in catalog order (an updated item
    keeps its place, an added one goes last) and every item's prior."""

    version: int
    config: CatalogConfig
    term_ids: dict[str, list[str]]
    priors: dict[str, float]

    def grounder(self, *, device: str = "cpu") -> Grounder:
        """A Grounder built from scratch on this catalog."""
        return Grounder(
            self.term_ids,
            mode=self.config.mode,
            weights=self.config.weights,
            term_id_length=self.config.term_id_length,
            priors=self.priors,
            device=device,
        )
