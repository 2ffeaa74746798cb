"""The schema prompt: an item, optionally its neighbours, and the rules for its five keywords."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from grlm.errors import InvalidInputError
from grlm.term_ids import format_term_id

__all__ = ["DEFAULT_TEMPLATE", "PromptTemplate", "load_template"]

Message = dict[str, str]


@dataclass(frozen=True)
class PromptTemplate:
    """Texts of the CTG prompt; every field may be overridden from a JSON or YAML file.

    ``instruction`` holds ``{num_terms}``; ``context`` holds ``{neighbours}`` (a numbered list);
    ``target`` holds ``{item}``; ``avoid`` holds ``{term_ids}`` (Term IDs the answer must differ
    from). ``answer_prefix`` is written as the start of the assistant's turn, so even a small
    model begins a list; it is part of the text that is parsed.
    """

    system: str = (
        "You are a product catalog expert. You describe products with short, standardized keywords."
    )
    instruction: str = (
        "Write exactly {num_terms} keywords for the target product.\n"
        "Rules:\n"
        "- each keyword is one or two lowercase words in base form (singular nouns, no brand, "
        "no model number);\n"
        "- order: 1 category or type, 2 function, 3 distinctive feature, 4 audience, "
        "5 unique selling point;\n"
        "- all {num_terms} keywords are different;\n"
        "- answer only with the bracketed list of keywords, separated by commas."
    )
    context: str = (
        "Similar products:\n{neighbours}\n"
        "Use the same keywords as the similar products for the traits they share, and make the "
        "remaining keywords describe what is special about the target product."
    )
    target: str = "Target product:\n{item}"
    strict: str = (
        "Your previous answer was not valid. Answer with exactly {num_terms} different "
        "keywords of at most three words each, in brackets and separated by commas, "
        "and nothing else."
    )
    avoid: str = (
        "These keyword lists already belong to other products: {term_ids}. Your list "
        "must differ from each of them in at least one keyword; use a keyword specific "
        "to the target product."
    )
    example_item: str = (
        "Title: DEWALT 20V MAX Cordless Drill Driver Kit, 1/2-Inch\n"
        "Description: Compact, lightweight drill with a high-performance motor "
        "and two-speed transmission for drilling and fastening jobs..."
    )
    example_answer: str = "[drill, drilling, cordless, contractor, two-speed]"
    answer_prefix: str = "["

    def messages(
        self,
        item: str,
        neighbours: Sequence[str] = (),
        *,
        num_terms: int = 5,
        strict: bool = False,
        avoid: Sequence[Sequence[str]] = (),
    ) -> list[Message]:
        """Chat messages for one item.

        Parameters
        ----------
        item : str
            The item's rendered text.
        neighbours : sequence of str
            Rendered neighbour texts; empty for the no-context variant.
        num_terms : int, keyword-only
            Keywords asked for.
        strict : bool, keyword-only
            Adds the stricter retry note.
        avoid : sequence of term sequences, keyword-only
            Term IDs the answer must differ from (collision resolution).
        """
        parts = [self.instruction.format(num_terms=num_terms)]
        if neighbours:
            listing = "\n".join(
                f"{i}. {text.replace(chr(10), '; ')}" for i, text in enumerate(neighbours, start=1)
            )
            parts.append(self.context.format(neighbours=listing))
        parts.append(self.target.format(item=item))
        if avoid:
            parts.append(
                self.avoid.format(term_ids="; ".join(format_term_id(terms) for terms in avoid))
            )
        if strict:
            parts.append(self.strict.format(num_terms=num_terms))
        messages = []
        if self.system:
            messages.append({"role": "system", "content": self.system})
        if self.example_item and self.example_answer:
            messages.append(
                {
                    "role": "user",
                    "content": "\n\n".join(
                        [
                            self.instruction.format(num_terms=num_terms),
                            self.target.format(item=self.example_item),
                        ]
                    ),
                }
            )
            messages.append({"role": "assistant", "content": self.example_answer})
        messages.append({"role": "user", "content": "\n\n".join(parts)})
        return messages


DEFAULT_TEMPLATE = PromptTemplate()


def load_template(path: str | os.PathLike[str]) -> PromptTemplate:
    """A template from a JSON or YAML file whose keys override :data:`DEFAULT_TEMPLATE`'s."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InvalidInputError(f"{path}: not valid JSON ({error.msg})") from None
    if not isinstance(data, dict):
        raise InvalidInputError(f"{path}: a template file must hold a mapping of fields")
    known = {f.name for f in dataclasses.fields(PromptTemplate)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInputError(
            f"{path}: unknown template fields {unknown}; known: {sorted(known)}"
        )
    bad = [k for k, v in data.items() if not isinstance(v, str)]
    if bad:
        raise InvalidInputError(f"{path}: template fields {bad} must be strings")
    template = dataclasses.replace(DEFAULT_TEMPLATE, **data)
    # Fail now, not after the model is loaded, when a placeholder is misspelled.
    try:
        template.messages("x", ["y"], strict=True, avoid=[("a",)])
    except (KeyError, IndexError) as error:
        raise InvalidInputError(f"{path}: unknown placeholder {error} in the template") from None
    return template
