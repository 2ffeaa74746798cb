"""Batched beam search over prompt token ids, with two interchangeable decoders.

- ``"fast"``: :class:`grlm.decoding.BeamSearchDecoder` (the prompt's KV cache computed once per
  user and shared by its beams, one token per beam row a step, a CUDA graph on GPUs);
- ``"hf"``: Hugging Face ``generate`` under an explicit :func:`generation_config`.

Both follow Hugging Face's beam-search semantics (score = sum of log-probabilities divided by
``length ** length_penalty``, early stopping off) and so return the same beams; with a ``trie``
every beam spells one of the catalog's answers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from grlm.errors import InvalidInputError

DECODERS = ("fast", "hf")


@dataclass(frozen=True)
class Beam:
    text: str  # the generated answer, special tokens removed
    score: float  # the beam's length-normalized log-probability (HF sequences_scores)


def generation_config(
    tokenizer,
    *,
    num_beams: int,
    num_return_sequences: int,
    max_new_tokens: int,
    length_penalty: float = 1.0,
    eos_token_id: int | None = None,
):
    """A GenerationConfig that is deterministic beam search whatever the checkpoint's own
    defaults say: no sampling, the pad id of ``tokenizer``, ``eos_token_id`` (default: the
    tokenizer's EOS) ending an answer."""
    from transformers import GenerationConfig

    if num_beams < 1 or not 1 <= num_return_sequences <= num_beams:
        raise InvalidInputError(
            f"need 1 <= num_return_sequences ({num_return_sequences}) <= num_beams ({num_beams})"
        )
    if max_new_tokens < 1:
        raise InvalidInputError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    return GenerationConfig(
        do_sample=False,
        num_beams=num_beams,
        num_return_sequences=num_return_sequences,
        max_new_tokens=max_new_tokens,
        early_stopping=False,
        length_penalty=length_penalty,
        temperature=None,
        top_p=None,
        top_k=None,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id if eos_token_id is None else eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        return_dict_in_generate=True,
        output_scores=True,
    )


def _check(prompts: Sequence[Sequence[int]], batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    if any(len(p) == 0 for p in prompts):
        raise InvalidInputError("every prompt needs at least one token")


def _batches(prompts: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Prompt indices in batches of similar length (little left padding)."""
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def hf_beam_search(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    num_beams: int = 20,
    max_new_tokens: int = 32,
    batch_size: int = 4,
    trie=None,
    eos_token_id: int | None = None,
    length_penalty: float = 1.0,
) -> tuple[list[list[Beam]], float]:
    """Beam search with ``model.generate`` for every prompt (token ids, left-padded in
    batches); returns (beams per prompt best first, seconds spent). With ``trie``
    (a :class:`grlm.decoding.TokenTrie`) every beam is constrained to spell a catalog answer
    (:class:`grlm.decoding.hf.TrieLogitsProcessor`); its end token ends the answer."""
    import torch

    from grlm.lm import left_pad

    if not prompts:
        return [], 0.0
    _check(prompts, batch_size)
    if trie is not None:
        if eos_token_id is not None and eos_token_id != trie.end_token:
            raise InvalidInputError(f"eos_token_id {eos_token_id} != trie end {trie.end_token}")
        eos_token_id = trie.end_token
    config = generation_config(
        tokenizer,
        num_beams=num_beams,
        num_return_sequences=num_beams,
        max_new_tokens=max_new_tokens,
        length_penalty=length_penalty,
        eos_token_id=eos_token_id,
    )
    device = next(model.parameters()).device
    out: list[list[Beam]] = [[] for _ in prompts]
    started = time.perf_counter()
    model.eval()
    for rows in _batches(prompts, batch_size):
        ids, mask = left_pad([prompts[i] for i in rows], tokenizer.pad_token_id)
        processors = None
        if trie is not None:
            from transformers import LogitsProcessorList

            from grlm.decoding.hf import TrieLogitsProcessor

            processors = LogitsProcessorList([TrieLogitsProcessor(trie, ids.shape[1])])
        with torch.no_grad():
            result = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                generation_config=config,
                logits_processor=processors,
            )
        new = result.sequences[:, ids.shape[1] :]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        if num_beams > 1:
            scores = result.sequences_scores.float().tolist()
        else:
            scores = [0.0] * len(texts)
        for j, row in enumerate(rows):
            beams = [
                Beam(texts[j * num_beams + b].strip(), scores[j * num_beams + b])
                for b in range(num_beams)
            ]
            if trie is not None:  # rows past the catalog's end are -inf fillers, not answers
                beams = [b for b in beams if b.score > float("-inf")]
            out[row] = beams
    return out, time.perf_counter() - started


def fast_beam_search(
    decoder,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    constrained: bool,
    batch_size: int = 4,
) -> tuple[list[list[Beam]], float]:
    """Beam search with a :class:`grlm.decoding.BeamSearchDecoder` for every prompt (token ids),
    ``batch_size`` prompts per search; returns (beams per prompt best first, seconds spent)."""
    if not prompts:
        return [], 0.0
    _check(prompts, batch_size)
    out: list[list[Beam]] = [[] for _ in prompts]
    started = time.perf_counter()
    # On a GPU, prompt widths rounded to 64 tokens let batches replay one captured CUDA graph.
    multiple = 64 if decoder.cuda_graph else 1
    for rows in _batches(prompts, batch_size):
        found = decoder.search(
            [prompts[i] for i in rows],
            constrained=constrained,
            max_new_tokens=max_new_tokens,
            pad_multiple=multiple,
        )
        for row, hypotheses in zip(rows, found):
            texts = tokenizer.batch_decode(
                [list(h.tokens) for h in hypotheses], skip_special_tokens=True
            )
            out[row] = [Beam(text.strip(), float(h.score)) for text, h in zip(texts, hypotheses)]
    return out, time.perf_counter() - started


def make_decoder(
    model,
    *,
    num_beams: int,
    trie=None,
    eos_token_id: int | None = None,
    pad_token_id: int | None = None,
    normalization: str = "full",
    vocabulary=None,
):
    """The fast decoder for ``model`` (a peft model decodes through its base model, which holds
    the LoRA layers)."""
    from grlm.decoding import BeamSearchDecoder

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return BeamSearchDecoder(
        base,
        trie,
        num_beams=num_beams,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        normalization=normalization,
        vocabulary=vocabulary,
    )


def beam_search(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    *,
    decoder: str = "fast",
    num_beams: int = 20,
    max_new_tokens: int = 32,
    batch_size: int = 4,
    trie=None,
    eos_token_id: int | None = None,
    normalization: str = "full",
    vocabulary=None,
) -> tuple[list[list[Beam]], float]:
    """Beam search for every prompt (token ids) with the ``"fast"`` or ``"hf"`` decoder,
    constrained to the catalog when ``trie`` is given (then up to the trie's longest answer, not
    ``max_new_tokens``); returns (beams per prompt, seconds). ``normalization`` and
    ``vocabulary`` are the fast decoder's (:class:`grlm.decoding.BeamSearchDecoder`): how a model
    trained with the catalog or trie loss is scored."""
    if decoder not in DECODERS:
        raise InvalidInputError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if decoder == "hf" and (normalization != "full" or vocabulary is not None):
        raise InvalidInputError(
            "the hf decoder scores over the whole vocabulary; a model trained with the catalog "
            "or trie loss decodes with the fast decoder"
        )
    if trie is not None:
        # A constrained answer is over once the trie's longest sequence is spelled.
        max_new_tokens = trie.max_length
    if decoder == "hf":
        return hf_beam_search(
            model,
            tokenizer,
            prompts,
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            trie=trie,
            eos_token_id=eos_token_id,
        )
    if trie is not None:
        eos_token_id = trie.end_token
    fast = make_decoder(
        model,
        num_beams=num_beams,
        trie=trie,
        eos_token_id=eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        normalization=normalization,
        vocabulary=vocabulary,
    )
    return fast_beam_search(
        fast,
        tokenizer,
        prompts,
        max_new_tokens=max_new_tokens,
        constrained=trie is not None,
        batch_size=batch_size,
    )
