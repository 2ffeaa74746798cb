"""How a Term ID is written as model output — one definition for fine-tuning, decoding and tries.

Training tokenizes the prompt and the answer separately and concatenates the ids, and the
constrained decoder's token trie uses the very same ``encode_answer``, so a Term ID is tokenized
identically in training and in the trie whatever the tokenizer's merges across the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

from grlm.term_ids import format_term_id  # the answer text: "[perfume, feminine, ..., woody]"

__all__ = ["encode_answer", "end_of_answer_id", "format_term_id"]


def end_of_answer_id(tokenizer) -> int:
    """The token that ends an answer: the tokenizer's EOS (``<|im_end|>`` for chat models)."""
    if tokenizer.eos_token_id is None:
        raise ValueError(f"tokenizer {type(tokenizer).__name__} has no eos_token_id")
    return int(tokenizer.eos_token_id)


def encode_answer(tokenizer, terms: Sequence[str]) -> list[int]:
    """Token ids of the answer for ``terms`` followed by the end-of-answer token."""
    ids = tokenizer(format_term_id(terms), add_special_tokens=False)["input_ids"]
    return list(ids) + [end_of_answer_id(tokenizer)]
