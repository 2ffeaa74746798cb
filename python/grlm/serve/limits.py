"""The bounds every request is checked against before any work is done for it."""

from __future__ import annotations

from dataclasses import dataclass

from grlm import _core
from grlm.errors import InvalidInputError

# The core's largest k (also the GPU scorer's): one bound whatever the device.
CORE_MAX_K = _core.MAX_TOP_K


@dataclass(frozen=True)
class Limits:
    """Upper bounds of one request.

    Attributes
    ----------
    max_body_bytes : int
        Request body size; larger bodies get 413 before they are parsed.
    max_term_ids : int
        Term IDs in one ``/v1/ground`` request.
    max_terms : int
        Terms in one Term ID (the catalog's own Term ID length may be smaller, and then wins).
    max_term_chars : int
        Characters in one generated term.
    max_k : int
        ``k`` of a request; at most the core's largest top-k (1024).
    max_history : int
        Items in one ``/v1/recommend`` history.
    max_items_per_update : int
        Items in one ``PUT`` or ``DELETE /v1/items`` request.
    """

    max_body_bytes: int = 1 << 20
    max_term_ids: int = 1024
    max_terms: int = 16
    max_term_chars: int = 256
    max_k: int = CORE_MAX_K
    max_history: int = 50
    max_items_per_update: int = 10_000

    def __post_init__(self):
        for name, value in vars(self).items():
            if type(value) is not int or value < 1:
                raise InvalidInputError(f"limit {name} must be a positive int, got {value!r}")
        if self.max_k > CORE_MAX_K:
            raise InvalidInputError(
                f"limit max_k must be at most {CORE_MAX_K} (the core's "
                f"largest top-k), got {self.max_k}"
            )
