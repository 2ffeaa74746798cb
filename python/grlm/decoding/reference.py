"""Reference constrained beam search: small, obvious, slow. The oracle of the tests and the
baseline of the benchmark.

One request at a time, the whole sequence re-run through the model at every step (no cache), a
Python set of allowed prefixes instead of the trie, and Hugging Face's beam-search rules written
out one by one: the top ``2 * num_beams`` candidates of all beams; an end token among the first
``num_beams`` of them finishes a hypothesis (score divided by ``length ** length_penalty``);
the best ``num_beams`` other candidates keep running; the search of a request stops when no
running beam can beat the worst of ``num_beams`` finished hypotheses.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field

from grlm.errors import InvalidInputError


@dataclass(frozen=True)
class Hypothesis:
    """One finished beam: the generated tokens (end token included), the items they name (all
    items sharing the sequence, sorted), the sum of token log-probabilities and the ranking score
    ``log_prob / len(tokens) ** length_penalty``."""

    tokens: tuple[int, ...]
    score: float
    log_prob: float
    items: tuple[Hashable, ...] = field(default=())


def reference_constrained_beam_search(
    model,
    prompt_ids: Sequence[int],
    sequences: Mapping[Hashable, Sequence[int]] | None,
    *,
    eos_token_id: int,
    num_beams: int,
    max_new_tokens: int | None = None,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    normalization: str = "full",
) -> list[Hypothesis]:
    """Beam search for one prompt; ``sequences=None`` searches freely (then ``max_new_tokens``
    is required). Returns the finished hypotheses, best first (fewer than ``num_beams`` when the
    catalog allows fewer)."""
    import torch

    if normalization not in ("full", "allowed"):
        raise InvalidInputError(f"normalization must be 'full' or 'allowed', got {normalization!r}")
    allowed: dict[tuple[int, ...], set[int]] = {}
    items_of: dict[tuple[int, ...], list[Hashable]] = {}
    if sequences is not None:
        if not sequences:
            raise InvalidInputError("empty catalog: nothing to decode")
        for key, seq in sequences.items():
            seq = tuple(int(t) for t in seq)
            for i in range(len(seq)):
                allowed.setdefault(seq[:i], set()).add(seq[i])
            items_of.setdefault(seq, []).append(key)
        if max_new_tokens is None:
            max_new_tokens = max(len(tuple(s)) for s in sequences.values())
    elif max_new_tokens is None:
        raise InvalidInputError("free beam search needs max_new_tokens")

    device = next(model.parameters()).device
    prompt = [int(t) for t in prompt_ids]
    running: list[tuple[float, tuple[int, ...]]] = [(0.0, ())]
    finished: list[tuple[float, float, tuple[int, ...]]] = []  # (score, log_prob, tokens)
    for step in range(max_new_tokens):
        if not running:
            break
        with torch.no_grad():
            ids = torch.tensor([prompt + list(tokens) for _, tokens in running], device=device)
            logits = model(input_ids=ids).logits[:, -1, :].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        candidates = []  # (score, beam, token)
        for beam, (beam_score, tokens) in enumerate(running):
            if sequences is None:
                choices = range(logits.shape[-1])
                row = log_probs[beam]
            else:
                choices = sorted(allowed.get(tokens, ()))
                row = log_probs[beam]
                if normalization == "allowed" and choices:
                    row = logits[beam] - torch.logsumexp(logits[beam, choices], dim=0)
            values = row.tolist()
            for token in choices:
                candidates.append((beam_score + values[token], beam, token))
        # Ties: lower beam, then lower token first.
        candidates.sort(key=lambda c: (-c[0], c[1], c[2]))
        top = candidates[: 2 * num_beams]
        length = step + 1
        # Free search at max length: Hugging Face finishes every beam (stopping criteria).
        at_end = sequences is None and length == max_new_tokens
        for score, beam, token in top[:num_beams]:
            if token == eos_token_id or (at_end and math.isfinite(score)):
                finished.append(
                    (score / length**length_penalty, score, running[beam][1] + (token,))
                )
        finished.sort(key=lambda f: -f[0])
        finished = finished[:num_beams]
        running = [
            (score, running[beam][1] + (token,))
            for score, beam, token in top
            if token != eos_token_id
        ][:num_beams]
        # Hugging Face's stopping rule: stop once num_beams hypotheses are finished and no running
        # beam can do better (with early_stopping=True: as soon as num_beams are finished).
        if len(finished) == num_beams:
            if early_stopping is True:
                break
            if early_stopping == "never" and length_penalty > 0:
                best_length = max_new_tokens
            else:
                best_length = length
            if not running or running[0][0] / best_length**length_penalty <= finished[-1][0]:
                break
    return [
        Hypothesis(
            tokens=tokens,
            score=score,
            log_prob=log_prob,
            items=tuple(sorted(items_of.get(tokens, ()), key=_sort_key)),
        )
        for score, log_prob, tokens in finished
        if math.isfinite(score)
    ]


def _sort_key(key):
    from grlm.decoding.trie import _sort_key as key_fn

    return key_fn(key)
