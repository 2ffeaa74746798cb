"""Statistics of a Term ID assignment: collisions, vocabulary, per-position entropy."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from grlm.errors import InvalidInputError

__all__ = ["format_stats", "term_id_stats"]


def _entropy_bits(counts: Counter[str]) -> float:
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


def term_id_stats(term_ids: Mapping[str, Sequence[str]], *, top: int = 15) -> dict[str, Any]:
    """Statistics of Term IDs.

    Returns a JSON-ready dict: ``items``, ``distinct_term_ids``, ``items_in_collisions`` (items
    sharing their Term ID with another item), ``collision_rate`` (that over ``items``),
    ``collision_groups``, ``largest_group``, ``length_histogram``, ``vocabulary_size`` (distinct
    terms over all positions), ``multiword_terms`` and ``hyphenated_terms`` (shares of the
    vocabulary), ``positions`` (per position: vocabulary size, entropy in bits, top terms) and
    ``top_terms`` overall.
    """
    if not term_ids:
        raise InvalidInputError("no Term IDs to describe")
    ids = Counter(tuple(terms) for terms in term_ids.values())
    groups = [count for count in ids.values() if count > 1]
    lengths = Counter(len(terms) for terms in term_ids.values())
    terms_all: Counter[str] = Counter()
    per_position: list[Counter[str]] = [Counter() for _ in range(max(lengths))]
    for terms in term_ids.values():
        terms_all.update(terms)
        for position, term in enumerate(terms):
            per_position[position][term] += 1
    vocabulary = list(terms_all)
    n = len(term_ids)
    return {
        "items": n,
        "distinct_term_ids": len(ids),
        "items_in_collisions": sum(groups),
        "collision_rate": sum(groups) / n,
        "collision_groups": len(groups),
        "largest_group": max(groups, default=1),
        "length_histogram": {str(k): v for k, v in sorted(lengths.items())},
        "vocabulary_size": len(vocabulary),
        "multiword_terms": sum(" " in t for t in vocabulary) / len(vocabulary),
        "hyphenated_terms": sum("-" in t for t in vocabulary) / len(vocabulary),
        "positions": [
            {
                "position": p + 1,
                "vocabulary_size": len(c),
                "entropy_bits": _entropy_bits(c),
                "top_terms": c.most_common(top),
            }
            for p, c in enumerate(per_position)
        ],
        "top_terms": terms_all.most_common(top),
    }


def format_stats(stats: Mapping[str, Any], *, title: str = "Term IDs", top: int = 8) -> str:
    """A printable table of :func:`term_id_stats` (plus any ``generation`` / ``collisions``
    sections a build added)."""
    rows = [
        ("items", f"{stats['items']:,}"),
        ("distinct Term IDs", f"{stats['distinct_term_ids']:,}"),
        (
            "items in collisions",
            f"{stats['items_in_collisions']:,} ({100 * stats['collision_rate']:.2f} %)",
        ),
        ("collision groups (largest)", f"{stats['collision_groups']:,} ({stats['largest_group']})"),
        ("Term ID lengths", ", ".join(f"{k}: {v:,}" for k, v in stats["length_histogram"].items())),
        ("term vocabulary", f"{stats['vocabulary_size']:,}"),
        (
            "multi-word / hyphenated terms",
            f"{100 * stats['multiword_terms']:.1f} % / {100 * stats['hyphenated_terms']:.1f} %",
        ),
    ]
    generation = stats.get("generation")
    if generation:
        rows += [
            ("legal before repair", f"{100 * generation['legal_first_try_rate']:.1f} %"),
            ("legal after retries", f"{100 * generation['legal_after_retries_rate']:.1f} %"),
            ("repaired from item text", f"{generation['repaired']:,}"),
            ("completed from neighbours", f"{generation.get('completed_from_neighbours', 0):,}"),
            ("failed (no Term ID)", f"{generation['failed']:,}"),
        ]
        if generation.get("items_per_second"):
            rows.append(("generation speed", f"{generation['items_per_second']:.2f} items/s"))
    collisions = stats.get("collisions")
    if collisions:
        rows += [
            (
                "collisions before resolution",
                (
                    f"{collisions['items_in_collisions_before']:,} items in "
                    f"{collisions['groups_before']:,} groups"
                ),
            ),
            (
                "changed by regeneration / by text",
                f"{collisions['changed_by_regeneration']:,} / {collisions['changed_by_text']:,}",
            ),
            ("unresolved", f"{len(collisions['unresolved']):,}"),
        ]
    width = max(len(name) for name, _ in rows)
    lines = [title, "-" * len(title)]
    lines += [f"{name:<{width}}  {value}" for name, value in rows]
    lines.append("")
    lines.append(f"{'position':<9}{'vocab':>8}{'entropy':>9}  most frequent terms")
    for entry in stats["positions"]:
        common = ", ".join(f"{t} ({c})" for t, c in entry["top_terms"][:top])
        lines.append(
            f"{entry['position']:<9}{entry['vocabulary_size']:>8,}"
            f"{entry['entropy_bits']:>9.2f}  {common}"
        )
    lines.append("")
    lines.append(
        "most frequent terms: " + ", ".join(f"{t} ({c})" for t, c in stats["top_terms"][: top * 2])
    )
    return "\n".join(lines)
