"""What a fine-tuned model folder records about its training, so that inference matches it.

``grlm_model.json`` beside the weights holds the objective (its prompt and line layouts), the
loss and the layers kept. ``grlm recommend``, the pipeline and ``grlm serve --model DIR`` read it
and need no flag: the prompt and the lines are the objective's, and the decoder scores tokens as
the loss did:

- ``token`` (the whole vocabulary, the paper's): log-softmax over every token;
- ``catalog`` (the tokens the catalog's answers use): log-softmax over those tokens only, in
  free and constrained decoding;
- ``trie`` (at each position, the trie's allowed next tokens): constrained decoding renormalizes
  over the allowed children (``normalization="allowed"``). Free decoding is refused: the loss
  never trains the tokens the trie forces nor any token outside the trie's choices, so without
  the trie the model writes no Term ID.

A folder without the file (a model fine-tuned before it existed, or any Hugging Face model) is
read as the packed objective with the chat prompt, bracketed lines and the token loss.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from grlm._io import atomic_write_json
from grlm.errors import InvalidInputError
from grlm.objective import Objective

LOSSES = ("token", "catalog", "trie")
CARD_FILE = "grlm_model.json"
FREE_AFTER_TRIE = (
    "free decoding needs a model trained with the token or catalog loss: the trie loss trains "
    "only the trie's choices, so without the trie the model writes no Term ID"
)


@dataclass(frozen=True)
class ModelCard:
    """The training choices inference depends on (see the module docstring)."""

    objective: str = "packed"
    prompt: str = "chat"
    lines: str = "bracketed"
    loss: str = "token"
    keep_layers: int | None = None  # None: every layer of the base model
    base_model: str | None = None

    def __post_init__(self):
        self.to_objective()  # validates the objective, its prompt and its lines
        if self.loss not in LOSSES:
            raise InvalidInputError(f"train.loss must be one of {LOSSES}, got {self.loss!r}")

    def to_objective(self) -> Objective:
        return Objective(self.objective, self.prompt, self.lines)

    @property
    def restricts_vocabulary(self) -> bool:
        """Whether decoding scores only the catalog's tokens."""
        return self.loss != "token"

    @property
    def normalization(self) -> str:
        """The constrained decoder's normalization (:class:`grlm.decoding.BeamSearchDecoder`)."""
        return "allowed" if self.loss == "trie" else "full"

    def check_decoding(self, decoding: str) -> None:
        """Refuses free decoding of a model trained with the trie loss (see the module docstring)."""
        if decoding == "free" and self.loss == "trie":
            raise InvalidInputError(FREE_AFTER_TRIE)

    def save(self, folder: str | Path) -> None:
        atomic_write_json(Path(folder) / CARD_FILE, asdict(self))

    @classmethod
    def load(cls, folder: str | Path) -> ModelCard:
        """The card of a model folder; the defaults when it has none."""
        path = Path(folder) / CARD_FILE
        if not path.is_file():
            return cls()
        try:
            data = json.loads(path.read_text())
        except ValueError as error:
            raise InvalidInputError(f"{path}: not JSON ({error})") from None
        if not isinstance(data, dict):
            raise InvalidInputError(f"{path}: expected a JSON object")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(f"{path}: unknown field(s) {sorted(unknown)}")
        return cls(**data)
