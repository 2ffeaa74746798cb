"""Catalogs and thread settings of the decoding tests (their models: :mod:`_tiny_lm`)."""

from __future__ import annotations

import random

from _tiny_lm import WORDS


def random_catalog(n: int, seed: int = 0, max_terms: int = 3) -> dict[str, list[str]]:
    """n items with 1..max_terms terms: shared prefixes, one-term IDs, collisions."""
    rng = random.Random(seed)
    items = {
        f"i{i:03d}": [rng.choice(WORDS[:13]) for _ in range(rng.randint(1, max_terms))]
        for i in range(n)
    }
    keys = sorted(items)
    items[keys[-1]] = list(items[keys[0]])  # a collision
    items["short"] = [items[keys[1]][0]]  # a Term ID that is a prefix of another's terms
    return items


def one_thread():
    """Context for the tiny models: torch's thread pool costs far more than these matmuls on a
    loaded machine (milliseconds per call), so run them on one thread."""
    import contextlib

    import torch

    @contextlib.contextmanager
    def scope():
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    return scope()
