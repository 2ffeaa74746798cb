"""Tokenizing SFT examples under an objective (:mod:`grlm.objective`).

A prompt example is its prompt through the chat template followed by the answer ids; a packed
example is the packed instruction followed by one line per item. The loss sees only the answers
(the target lines of a packed example)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from grlm.errors import InvalidInputError
from grlm.lm import prompt_ids
from grlm.objective import Objective
from grlm.train.examples import SYSTEM_PROMPT, SFTExample
from grlm.train.packed import PackedExample

PREFIX = Objective("prefix")

IGNORE_INDEX = -100


@dataclass(frozen=True)
class EncodedExample:
    input_ids: tuple[int, ...]
    labels: tuple[int, ...]  # IGNORE_INDEX on prompt tokens
    task: str


def encode_example(
    tokenizer,
    example: SFTExample | PackedExample,
    *,
    system: str = SYSTEM_PROMPT,
    objective: Objective = PREFIX,
    answer_ids=None,
) -> EncodedExample:
    """Token ids and labels of one example (``IGNORE_INDEX`` wherever there is no loss).

    A packed example's ids up to its first target line are exactly the inference prompt of its
    history (:meth:`Objective.history_prompt_ids`). ``answer_ids(terms)`` may be a cached
    ``objective.answer_ids``."""
    answer_ids = answer_ids or (lambda terms: objective.answer_ids(tokenizer, terms))
    if isinstance(example, PackedExample):
        if objective.name != "packed":
            raise InvalidInputError("a packed example needs the packed objective")
        cut = example.first_target
        ids = objective.history_prompt_ids(
            tokenizer, example.items[:cut], dict(zip(example.items, example.terms))
        )
        labels = [IGNORE_INDEX] * len(ids)
        for terms in example.terms[cut:]:
            line = answer_ids(terms)
            ids += line
            labels += line
        return EncodedExample(tuple(ids), tuple(labels), example.task)
    prompt = prompt_ids(tokenizer, example.prompt, system)
    answer = answer_ids(example.target)
    return EncodedExample(
        tuple(prompt + answer), tuple([IGNORE_INDEX] * len(prompt) + answer), example.task
    )


def encode_examples(
    tokenizer,
    examples,
    *,
    max_length: int,
    system: str = SYSTEM_PROMPT,
    objective: Objective = PREFIX,
) -> tuple[list[EncodedExample], int]:
    """Encodes every example; those longer than ``max_length`` tokens are dropped (never cut,
    which would lose the answer). Returns (encoded, number dropped)."""
    if max_length < 2:
        raise InvalidInputError(f"max_length must be at least 2, got {max_length}")
    cache: dict[tuple[str, ...], list[int]] = {}

    def answer_ids(terms) -> list[int]:
        key = tuple(terms)
        if key not in cache:
            cache[key] = objective.answer_ids(tokenizer, key)
        return list(cache[key])

    encoded, dropped = [], 0
    for example in examples:
        item = encode_example(
            tokenizer, example, system=system, objective=objective, answer_ids=answer_ids
        )
        if len(item.input_ids) > max_length:
            dropped += 1
            continue
        encoded.append(item)
    return encoded, dropped


def length_grouped_batches(
    lengths: Sequence[int],
    batch_size: int,
    *,
    seed: int,
    group_factor: int = 50,
    grouped: bool = True,
) -> list[list[int]]:
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
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    mega = batch_size * max(1, group_factor)
    batches = []
    for start in range(0, len(order), mega):
        chunk = sorted(order[start : start + mega], key=lambda i: -lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
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
