"""Supervised fine-tuning examples of Integrative Instruction Fine-tuning (GRLM, Sec. 3.2).

Three tasks, each a (prompt, Term ID) pair; the model learns to answer the prompt with the
Term ID written by :func:`grlm.answer_format.format_term_id`:

- ``gti`` (generative term internalization): an item's own text, without neighbours → its
  Term ID. Built for every item with any text (Beauty ships no item text, so none there).
- ``seq`` (sequence prediction): a user's history, each item as its Term ID (and title when
  known), oldest first → the Term ID of the next item. Under leave-one-out a user's last item is
  the test target and the one before it the validation target; training examples predict only
  items before both (every training prefix), and their histories hold only earlier items.
- ``collab`` (optional): an item's Term ID → the Term ID of one of its collaborative neighbours
  (``similar_items_sasrec.txt``).

The prompt texts are fixed here, once: training, validation and recommendation all build their
prompts with these functions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grlm.answer_format import format_term_id
from grlm.errors import InvalidInputError

TASKS = ("gti", "seq", "collab")

SYSTEM_PROMPT = (
    "You are a recommender system. Every item is identified by its Term ID, a bracketed list of "
    "keywords."
)
GTI_INSTRUCTION = "Give the Term ID of this item."
SEQ_INSTRUCTION = "A user interacted with these items, oldest first:"
SEQ_QUESTION = "Give the Term ID of the item the user will interact with next."
COLLAB_INSTRUCTION = "Give the Term ID of an item often chosen together with this item:"
MAX_DESCRIPTION_CHARS = 300


@dataclass(frozen=True)
class SFTExample:
    """One instruction example: ``prompt`` is the user message, ``target`` the answer Term ID.

    ``user_id`` and ``target_item`` say where it came from (``user_id`` is None for item tasks).
    """

    task: str
    prompt: str
    target: tuple[str, ...]
    target_item: str
    user_id: str | None = None


def _terms_of(term_ids: Mapping[str, Sequence[str]], item_id: str) -> tuple[str, ...]:
    try:
        terms = term_ids[item_id]
    except KeyError:
        raise InvalidInputError(f"item {item_id!r} has no Term ID") from None
    if not terms:
        raise InvalidInputError(f"item {item_id!r} has an empty Term ID")
    return tuple(terms)


def item_text(item) -> str:
    """The text of one item for the ``gti`` prompt: title, brand, categories and a description
    cut to ``MAX_DESCRIPTION_CHARS``, one labelled line each, empty fields left out."""
    lines = []
    if item.title:
        lines.append(f"Title: {item.title}")
    if item.brand:
        lines.append(f"Brand: {item.brand}")
    if item.categories:
        lines.append("Categories: " + ", ".join(item.categories))
    if item.description:
        description = " ".join(item.description.split())
        if len(description) > MAX_DESCRIPTION_CHARS:
            description = description[:MAX_DESCRIPTION_CHARS].rsplit(" ", 1)[0] + " ..."
        lines.append(f"Description: {description}")
    return "\n".join(lines)


def gti_prompt(item) -> str:
    """``GTI_INSTRUCTION`` then the item's text (see :func:`item_text`)."""
    return GTI_INSTRUCTION + "\n" + item_text(item)


def history_prompt(
    history: Sequence[str],
    term_ids: Mapping[str, Sequence[str]],
    titles: Mapping[str, str] | None = None,
) -> str:
    """The ``seq`` prompt for a history (oldest first): one line per item, its Term ID then its
    title when ``titles`` knows one."""
    if not history:
        raise InvalidInputError("a sequence prompt needs at least one history item")
    lines = [SEQ_INSTRUCTION]
    for item_id in history:
        line = format_term_id(_terms_of(term_ids, item_id))
        title = titles.get(item_id, "") if titles else ""
        if title:
            line += " " + title
        lines.append(line)
    lines.append(SEQ_QUESTION)
    return "\n".join(lines)


def collab_prompt(terms: Sequence[str]) -> str:
    return COLLAB_INSTRUCTION + " " + format_term_id(terms)


def gti_examples(
    items: Mapping[str, object], term_ids: Mapping[str, Sequence[str]]
) -> list[SFTExample]:
    """One ``gti`` example per item that has a Term ID and any text, in item-id order."""
    examples = []
    for item_id in sorted(items):
        item = items[item_id]
        if item_id not in term_ids or not item_text(item):
            continue
        examples.append(SFTExample("gti", gti_prompt(item), _terms_of(term_ids, item_id), item_id))
    return examples


def seq_examples(
    split,
    term_ids: Mapping[str, Sequence[str]],
    *,
    stage: str = "train",
    titles: Mapping[str, str] | None = None,
    max_history: int = 20,
    min_history: int = 1,
) -> list[SFTExample]:
    """Sequence-prediction examples for one stage of a split (:class:`grlm.data.Split`).

    ``stage="train"``: for every user and every position ``t`` of the user's training sequence
    (``split.train[user]``, which holds no validation or test target) with at least
    ``min_history`` items before it, the last ``max_history`` items before ``t`` → item ``t``.
    ``"valid"`` / ``"test"``: one example per evaluation case of ``split.valid`` /
    ``split.test``, its history (cut to the last ``max_history`` items) → its target.
    """
    if max_history < 1 or min_history < 1:
        raise InvalidInputError(
            f"max_history and min_history must be at least 1, got {max_history}, {min_history}"
        )
    if stage not in ("train", "valid", "test"):
        raise InvalidInputError(f"stage must be 'train', 'valid' or 'test', got {stage!r}")
    pairs: list[tuple[str, Sequence[str], str]] = []
    if stage == "train":
        for user in sorted(split.train):
            seq = split.train[user]
            pairs.extend(
                (user, seq[max(0, t - max_history) : t], seq[t])
                for t in range(min_history, len(seq))
            )
    else:
        cases = split.valid if stage == "valid" else split.test
        pairs.extend(
            (case.user_id, tuple(case.history)[-max_history:], case.target) for case in cases
        )
    return [
        SFTExample(
            "seq",
            history_prompt(history, term_ids, titles),
            _terms_of(term_ids, target),
            target,
            str(user),
        )
        for user, history, target in pairs
        if history
    ]


def read_similar_items(path: str | Path) -> dict[str, list[str]]:
    """Reads ``similar_items_sasrec.txt``: a header ``anchor top1 ... topN`` then one line per
    item, its neighbours best first."""
    path = Path(path)
    neighbours: dict[str, list[str]] = {}
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().split()
        if not header or header[0] != "anchor":
            raise InvalidInputError(f"{path}: expected a header starting with 'anchor'")
        for number, line in enumerate(handle, start=2):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise InvalidInputError(f"{path}:{number}: an anchor without neighbours")
            neighbours[fields[0]] = fields[1:]
    return neighbours


def collab_examples(
    neighbours: Mapping[str, Sequence[str]],
    term_ids: Mapping[str, Sequence[str]],
    *,
    top_n: int = 1,
) -> list[SFTExample]:
    """``collab`` examples: each anchor's Term ID → each of its first ``top_n`` neighbours'
    Term IDs (neighbours without a Term ID or equal to the anchor are skipped)."""
    if top_n < 1:
        raise InvalidInputError(f"top_n must be at least 1, got {top_n}")
    examples = []
    for anchor in sorted(neighbours):
        if anchor not in term_ids:
            continue
        taken = 0
        for other in neighbours[anchor]:
            if taken == top_n:
                break
            if other == anchor or other not in term_ids:
                continue
            examples.append(
                SFTExample(
                    "collab",
                    collab_prompt(_terms_of(term_ids, anchor)),
                    _terms_of(term_ids, other),
                    other,
                )
            )
            taken += 1
    return examples


def mix(
    tasks: Mapping[str, Sequence[SFTExample]], ratios: Mapping[str, float], *, seed: int = 0
) -> list[SFTExample]:
    """Mixes task example lists and shuffles them.

    ``ratios[task]`` is how many times each example of that task is used per epoch on average:
    1.0 keeps the task as built, 0.5 keeps a random half, 2.5 repeats every example twice plus a
    random half once more, 0 drops the task. Tasks missing from ``ratios`` count as 1.0.
    """
    rng = random.Random(seed)
    mixed: list[SFTExample] = []
    for task in sorted(tasks):
        ratio = float(ratios.get(task, 1.0))
        if not ratio >= 0:
            raise InvalidInputError(f"mixing ratio of {task!r} must be >= 0, got {ratio}")
        examples = list(tasks[task])
        whole = int(ratio)
        mixed.extend(examples * whole)
        extra = round((ratio - whole) * len(examples))
        mixed.extend(rng.sample(examples, extra))
    unknown = set(ratios) - set(tasks)
    if unknown - set(TASKS):
        raise InvalidInputError(f"unknown task(s) in mixing ratios: {sorted(unknown)}")
    rng.shuffle(mixed)
    return mixed


def task_counts(examples: Iterable[SFTExample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for example in examples:
        counts[example.task] = counts.get(example.task, 0) + 1
    return counts
