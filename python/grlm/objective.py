"""The two fine-tuning objectives and the token layout each one fixes for training and decoding.

``prefix`` (one example per training prefix): the chat prompt holds the history, one line per
item, and the answer is the next item's Term ID ended by the tokenizer's EOS.

``packed`` (one sequence per user window): the chat prompt holds only the instruction; the
assistant turn then lists the window's items, one Term ID per line, oldest first. The loss falls
on every line after the first, so one forward pass teaches every next item of the window. At
inference the prompt is the same token sequence up to the history's last line, and the model
writes the next line.

Every line (and every answer) is tokenized on its own by :meth:`Objective.answer_ids` and the ids
concatenated, so a Term ID has the same tokens in training, in inference prompts and in the
decoder's trie whatever merges the tokenizer would make across a line break. GRLM adds no tokens:
the line end is the tokenizer's own newline token (its EOS when a newline is not one token).

The ``prompt`` of a packed objective is ``"chat"`` (the chat template with the system prompt and
the instruction: about 59 tokens for SmolLM2) or ``"short"`` (:data:`SHORT_PACKED_PROMPT`
without a template: a handful of tokens). The lean CPU path uses ``"short"``: most Beauty users
have 5-7 training items, so the chat prompt was 46% of the training tokens, none of them with a
loss.

The ``lines`` of a packed objective are ``"bracketed"`` (:func:`grlm.answer_format.format_term_id`,
``[perfume, feminine, woody]``, the paper's answers) or ``"plain"``
(:func:`grlm.answer_format.format_plain_term_id`, ``perfume feminine woody``): the brackets and
commas are about 37% of a Beauty line's tokens (16.3 against 10.3 a line), and every one of them
costs a forward and a backward pass while teaching nothing. Plain lines need terms without
whitespace.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from grlm.answer_format import (
    encode_answer,
    end_of_answer_id,
    format_plain_term_id,
    format_term_id,
    parse_answer,
    parse_plain_answer,
)
from grlm.errors import InvalidInputError

OBJECTIVES = ("prefix", "packed")
PROMPTS = ("chat", "short")
LINES = ("bracketed", "plain")
PACKED_INSTRUCTION = (
    "A user interacted with these items, oldest first. Write the Term ID of "
    "each item, one per line."
)
SHORT_PACKED_PROMPT = "Items, oldest first:\n"


def line_end_id(tokenizer) -> int:
    """The token ending a packed line: the newline token when ``"\\n"`` is one token, else EOS."""
    ids = tokenizer("\n", add_special_tokens=False)["input_ids"]
    return int(ids[0]) if len(ids) == 1 else end_of_answer_id(tokenizer)


@dataclass(frozen=True)
class Objective:
    """How Term IDs and prompts become tokens under one objective (see the module docstring)."""

    name: str
    prompt: str = "chat"
    lines: str = "bracketed"

    def __post_init__(self):
        if self.name not in OBJECTIVES:
            raise InvalidInputError(f"sft.objective must be one of {OBJECTIVES}, got {self.name!r}")
        if self.prompt not in PROMPTS:
            raise InvalidInputError(f"sft.prompt must be one of {PROMPTS}, got {self.prompt!r}")
        if self.prompt == "short" and self.name != "packed":
            raise InvalidInputError("sft.prompt: short needs the packed objective")
        if self.lines not in LINES:
            raise InvalidInputError(f"sft.lines must be one of {LINES}, got {self.lines!r}")
        if self.lines == "plain" and self.name != "packed":
            raise InvalidInputError("sft.lines: plain needs the packed objective")

    def end_token(self, tokenizer) -> int:
        """The token that ends an answer: generation stops there and the trie ends with it."""
        return line_end_id(tokenizer) if self.name == "packed" else end_of_answer_id(tokenizer)

    def answer_ids(self, tokenizer, terms: Sequence[str]) -> list[int]:
        """The answer tokens of one Term ID, ended by :meth:`end_token`."""
        if self.name == "prefix":
            return encode_answer(tokenizer, terms)
        text = format_plain_term_id(terms) if self.lines == "plain" else format_term_id(terms)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return list(ids) + [self.end_token(tokenizer)]

    def parse_answer(self, text: str, term_id_length: int | None = None):
        """The terms of a generated answer written as this objective's lines (None when it holds
        none): :func:`grlm.answer_format.parse_answer` or ``parse_plain_answer``."""
        parse = parse_plain_answer if self.lines == "plain" else parse_answer
        return parse(text, term_id_length)

    def history_prompt_ids(
        self,
        tokenizer,
        history: Sequence[str],
        term_ids: Mapping[str, Sequence[str]],
        titles: Mapping[str, str] | None = None,
    ) -> list[int]:
        """The inference prompt for a history (oldest first): the model's answer is the next
        item. ``titles`` only apply to ``prefix`` (a packed line is a Term ID and nothing else)."""
        from grlm.lm import prompt_ids
        from grlm.train.examples import SYSTEM_PROMPT, history_prompt

        if self.name == "prefix":
            return prompt_ids(tokenizer, history_prompt(history, term_ids, titles), SYSTEM_PROMPT)
        if not history:
            raise InvalidInputError("a sequence prompt needs at least one history item")
        ids = self.instruction_ids(tokenizer)
        for item_id in history:
            if item_id not in term_ids:
                raise InvalidInputError(f"item {item_id!r} has no Term ID")
            ids += self.answer_ids(tokenizer, term_ids[item_id])
        return ids

    def instruction_ids(self, tokenizer) -> list[int]:
        """The tokens before a packed sequence's first line."""
        from grlm.lm import prompt_ids
        from grlm.train.examples import SYSTEM_PROMPT

        if self.prompt == "short":
            return list(tokenizer(SHORT_PACKED_PROMPT, add_special_tokens=False)["input_ids"])
        return prompt_ids(tokenizer, PACKED_INSTRUCTION, SYSTEM_PROMPT)

    def vocabulary(self, tokenizer, term_ids: Mapping[str, Sequence[str]]) -> list[int]:
        """The sorted token ids that the catalog's answers use, the end token included: the
        vocabulary of the catalog loss and of a lean model's decoding."""
        tokens: set[int] = set()
        for terms in set(map(tuple, term_ids.values())):
            tokens.update(self.answer_ids(tokenizer, terms))
        return sorted(tokens)

    def trie(self, tokenizer, term_ids: Mapping[str, Sequence[str]]):
        """The catalog's :class:`grlm.decoding.TokenTrie` over exactly these answer tokens."""
        from grlm.decoding import TokenTrie

        return TokenTrie.from_sequences(
            {item: self.answer_ids(tokenizer, terms) for item, terms in term_ids.items()},
            self.end_token(tokenizer),
        )
