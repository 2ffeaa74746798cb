"""Batched beam search over chat prompts under an explicit generation config."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from grlm.errors import InvalidInputError
from grlm.lm import left_pad, prompt_ids


@dataclass(frozen=True)
class Beam:
    text: str  # the generated answer, special tokens removed
    score: float  # the beam's length-normalized log-probability (HF sequences_scores)


def generation_config(tokenizer, *, num_beams: int, num_return_sequences: int,
                      max_new_tokens: int, length_penalty: float = 1.0):
    """A GenerationConfig that is deterministic beam search whatever the checkpoint's own
    defaults say: no sampling, the pad and eos ids of ``tokenizer``."""
    from transformers import GenerationConfig

    if num_beams < 1 or not 1 <= num_return_sequences <= num_beams:
        raise InvalidInputError(
            f"need 1 <= num_return_sequences ({num_return_sequences}) <= num_beams ({num_beams})")
    if max_new_tokens < 1:
        raise InvalidInputError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    return GenerationConfig(
        do_sample=False, num_beams=num_beams, num_return_sequences=num_return_sequences,
        max_new_tokens=max_new_tokens, early_stopping=True, length_penalty=length_penalty,
        temperature=None, top_p=None, top_k=None,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id, return_dict_in_generate=True, output_scores=True)


def beam_search(model, tokenizer, prompts: Sequence[str], *, system: str, num_beams: int = 20,
                num_return_sequences: int | None = None, max_new_tokens: int = 32,
                batch_size: int = 4, trie=None,
                length_penalty: float = 1.0) -> tuple[list[list[Beam]], float]:
    """Beam search for every prompt; returns (beams per prompt best first, seconds spent).

    Prompts go through the chat template with the generation prompt and are padded on the
    left, so every row's answer starts right after its own prompt. With ``trie`` (a
    :class:`grlm.decoding.TokenTrie` of the catalog's answers) every beam is constrained to
    spell a catalog Term ID (:class:`grlm.decoding.hf.TrieLogitsProcessor`).
    """
    import torch

    if not prompts:
        return [], 0.0
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    returned = num_return_sequences or num_beams
    config = generation_config(tokenizer, num_beams=num_beams, num_return_sequences=returned,
                               max_new_tokens=max_new_tokens, length_penalty=length_penalty)
    device = next(model.parameters()).device
    encoded = [prompt_ids(tokenizer, p, system) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    out: list[list[Beam]] = [[] for _ in prompts]
    started = time.perf_counter()
    model.eval()
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        ids, mask = left_pad([encoded[i] for i in rows], tokenizer.pad_token_id)
        processors = None
        if trie is not None:
            from transformers import LogitsProcessorList

            from grlm.decoding.hf import TrieLogitsProcessor

            processors = LogitsProcessorList([TrieLogitsProcessor(trie, ids.shape[1])])
        with torch.no_grad():
            result = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device),
                generation_config=config, logits_processor=processors)
        new = result.sequences[:, ids.shape[1]:]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        if num_beams > 1:
            scores = result.sequences_scores.float().tolist()
        else:
            scores = [0.0] * len(texts)
        for j, row in enumerate(rows):
            out[row] = [Beam(texts[j * returned + b].strip(), scores[j * returned + b])
                        for b in range(returned)]
    return out, time.perf_counter() - started
