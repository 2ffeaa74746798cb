"""Tokenizing SFT examples: prompt through the chat template, answer by
:func:`grlm.answer_format.encode_answer`, concatenated; the loss sees only the answer."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from grlm.answer_format import encode_answer
from grlm.errors import InvalidInputError
from grlm.lm import prompt_ids
from grlm.train.examples import SYSTEM_PROMPT, SFTExample

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # IGNORE_INDEX on prompt tokens
    task: str


def encode_example(tokenizer, example: SFTExample, *,
                   system: str = SYSTEM_PROMPT) -> EncodedExample:
    """Prompt ids (chat template, generation prompt added) followed by the answer ids; labels
    copy the answer ids and ignore the prompt."""
    prompt = prompt_ids(tokenizer, example.prompt, system)
    answer = encode_answer(tokenizer, example.target)
    return EncodedExample(tuple(prompt + answer),
                          tuple([IGNORE_INDEX] * len(prompt) + answer), example.task)


def encode_examples(tokenizer, examples: Sequence[SFTExample], *, max_length: int,
                    system: str = SYSTEM_PROMPT) -> tuple[list[EncodedExample], int]:
    """Encodes every example; those longer than ``max_length`` tokens are dropped (never cut,
    which would lose the answer). Returns (encoded, number dropped)."""
    if max_length < 2:
        raise InvalidInputError(f"max_length must be at least 2, got {max_length}")
    encoded, dropped = [], 0
    for example in examples:
        item = encode_example(tokenizer, example, system=system)
        if len(item.input_ids) > max_length:
            dropped += 1
            continue
        encoded.append(item)
    return encoded, dropped


def length_grouped_batches(lengths: Sequence[int], batch_size: int, *, seed: int,
                           group_factor: int = 50, grouped: bool = True) -> list[list[int]]:
    """Batches of example indices for one epoch.

    Grouped: indices are shuffled, cut into mega-batches of ``batch_size * group_factor``,
    each sorted by length (longest first) and cut into batches, and the batches shuffled — so a
    batch holds similar lengths (little padding) while the epoch stays random. Ungrouped: a
    plain shuffle. Deterministic for a seed (resume replays the same order).
    """
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    if not grouped:
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    mega = batch_size * max(1, group_factor)
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start:start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(examples: Sequence[EncodedExample], pad_id: int):
    """Right-padded (input_ids, attention_mask, labels) tensors for training."""
    import torch

    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, :n] = torch.tensor(e.labels)
    return ids, mask, labels
