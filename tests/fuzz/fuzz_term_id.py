"""Fuzz target: the Term ID parser and the one normalization rule. parse_term_id returns
normalized, non-empty terms or raises InvalidInputError; the core's normalization equals the
Python one on every string; a formatted list of simple terms parses back to itself."""

from __future__ import annotations

import _harness


def test_one_input(data: bytes) -> None:
    import byte_provider as provider
    from grlm import _core
    from grlm.errors import InvalidInputError
    from grlm.term_ids import format_term_id, normalize_term, parse_term_id

    text = data.decode("utf-8", errors="surrogateescape" if data[:1] == b"s" else "replace")
    try:
        terms = parse_term_id(text)
    except InvalidInputError:
        terms = None
    if terms is not None:
        assert terms and all(term and normalize_term(term) == term for term in terms), terms
    try:
        expected = normalize_term(text)
        core = _core.normalize_term(text)
    except InvalidInputError:  # empty after normalization, or a lone surrogate (not UTF-8)
        core = expected = None
    if expected:
        assert core == expected, (text, core, expected)
    # Round trip: simple terms (letters, digits, inner hyphens and spaces) survive formatting.
    # At least two, so that the list has a comma: "[water bottle]" alone reads as two terms.
    fdp = provider.Provider(data)
    words = [
        "".join(fdp.pick("abcxyz019") for _ in range(fdp.int(1, 5))) for _ in range(fdp.int(2, 6))
    ]
    simple = [w if i % 3 else f"{w}-{w}" if i % 2 else f"{w} {w}" for i, w in enumerate(words)]
    assert parse_term_id(format_term_id(simple)) == simple, simple


if __name__ == "__main__":
    _harness.run(test_one_input)
