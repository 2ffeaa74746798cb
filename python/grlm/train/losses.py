"""The fine-tuning losses: over the whole vocabulary, over the catalog's tokens, or over the
trie's allowed next tokens.

- ``token`` (the paper's): cross-entropy over the whole vocabulary at every answer token. With
  ``positions_only`` the head runs only where there is a loss (the same loss, less work).
- ``catalog``: cross-entropy over the tokens the catalog's answers use (with the end token),
  computed at the answer tokens only. SmolLM2's head has 49,152 rows; Beauty's answers use 5,238.
- ``trie``: at each answer token, cross-entropy over the children of its node in the catalog's
  token trie, the very set constrained decoding chooses from. A position with one child costs
  nothing and is skipped: training spends nothing on spelling what the trie guarantees.

During the model's forward its head is swapped for one that multiplies only the hidden states
of the loss positions by only the rows of the tokens the loss needs; the forward still goes
through every wrapper (peft, DDP), so data-parallel training works as with the token loss.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from grlm.errors import InvalidInputError
from grlm.model_card import LOSSES

IGNORE_INDEX = -100


class AnswerTrie:
    """The catalog's answers (token rows, each ended by ``end_token``) as a trie of dicts, walked
    over training labels to find each answer token's node."""

    def __init__(self, rows: Iterable[Sequence[int]], end_token: int):
        self.end_token = int(end_token)
        self.children: list[dict[int, int]] = [{}]
        for row in rows:
            node = 0
            for token in row:
                nxt = self.children[node].get(int(token))
                if nxt is None:
                    nxt = len(self.children)
                    self.children[node][int(token)] = nxt
                    self.children.append({})
                node = nxt

    def label_nodes(self, labels: Sequence[int]) -> list[int]:
        """The node before each token of a run of answer tokens (one or more whole answers)."""
        nodes, node = [], 0
        for token in labels:
            nodes.append(node)
            nxt = self.children[node].get(int(token))
            if nxt is None:
                raise InvalidInputError(
                    f"answer token {int(token)} is not in the catalog's trie (the training "
                    "labels and the trie disagree)"
                )
            node = 0 if token == self.end_token else nxt
        return nodes


@dataclass
class LossHead:
    """One of :data:`LOSSES` over a catalog ``vocabulary`` (token ids, sorted)."""

    kind: str = "token"
    positions_only: bool = False
    vocabulary: list[int] | None = None
    trie: AnswerTrie | None = None
    _allowed: dict[int, list[int]] = field(default_factory=dict, repr=False)
    _lookup: object = field(default=None, repr=False)

    def __post_init__(self):
        if self.kind not in LOSSES:
            raise InvalidInputError(f"train.loss must be one of {LOSSES}, got {self.kind!r}")
        if self.kind != "token" and not self.vocabulary:
            raise InvalidInputError(f"the {self.kind} loss needs the catalog's vocabulary")
        if self.kind == "trie" and self.trie is None:
            raise InvalidInputError("the trie loss needs the catalog's answer trie")
        self._index = {token: i for i, token in enumerate(self.vocabulary or ())}

    @classmethod
    def for_catalog(cls, kind: str, objective, tokenizer, term_ids, *, positions_only=False):
        """The loss ``kind`` over the catalog ``term_ids`` as ``objective`` writes its answers."""
        if kind == "token":
            return cls(kind, positions_only)
        trie = None
        if kind == "trie":
            rows = [objective.answer_ids(tokenizer, t) for t in set(map(tuple, term_ids.values()))]
            trie = AnswerTrie(rows, objective.end_token(tokenizer))
        return cls(kind, True, objective.vocabulary(tokenizer, term_ids), trie)

    # -- collation (CPU, per batch) -------------------------------------------------------------
    def batch_extras(self, labels) -> dict:
        """Per-batch tensors the loss needs besides the labels: for the trie loss, which answer
        positions branch (``trie_keep``, row-major over the label positions) and the catalog
        indices allowed at each kept one (``trie_rows``, ``trie_cols``)."""
        if self.kind != "trie":
            return {}
        import torch

        keep, rows, cols = [], [], []
        kept = 0
        for row in labels[:, 1:].tolist():
            run: list[int] = []
            for token in [*row, IGNORE_INDEX]:
                if token != IGNORE_INDEX:
                    run.append(token)
                    continue
                for node in self.trie.label_nodes(run) if run else ():
                    allowed = self._allowed_at(node)
                    keep.append(len(allowed) > 1)
                    if len(allowed) > 1:
                        rows.extend([kept] * len(allowed))
                        cols.extend(allowed)
                        kept += 1
                run = []
        return {
            "trie_keep": torch.tensor(keep, dtype=torch.bool),
            "trie_rows": torch.tensor(rows, dtype=torch.long),
            "trie_cols": torch.tensor(cols, dtype=torch.long),
        }

    def _allowed_at(self, node: int) -> list[int]:
        allowed = self._allowed.get(node)
        if allowed is None:
            allowed = [self._index[t] for t in self.trie.children[node]]
            self._allowed[node] = allowed
        return allowed

    # -- the loss -------------------------------------------------------------------------------
    def loss(self, model, inputs: dict):
        """The mean loss of a batch (``input_ids``, ``attention_mask``, ``labels`` and the
        :meth:`batch_extras`)."""
        if self.kind == "token" and not self.positions_only:
            out = model(
                input_ids=inputs["input_ids"],
                attention_mask=inputs["attention_mask"],
                labels=inputs["labels"],
            )
            return out.loss
        losses = self.position_losses(model, inputs)
        return losses.mean() if losses.numel() else losses.sum()

    def position_losses(self, model, inputs: dict):
        """The cross-entropy of every position the loss uses (the trie loss skips forced ones),
        row-major: the validation loss averages them over a whole set."""
        import torch
        import torch.nn.functional as F

        target = inputs["labels"][:, 1:]
        at_loss = target != IGNORE_INDEX
        y = target[at_loss]
        keep = None
        if self.kind == "trie":
            keep = inputs["trie_keep"].to(y.device)
            if keep.numel() != y.numel():
                raise InvalidInputError("trie_keep does not match the batch's answer tokens")
            y = y[keep]
        vocabulary = None
        if self.kind != "token":
            vocabulary = torch.tensor(self.vocabulary, device=y.device)
        base = _causal_lm(model)
        head = _selected_head(base.get_output_embeddings(), at_loss, keep, vocabulary)
        with _head_replaced(base, head):
            logits = model(
                input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
            ).logits.float()
        if self.kind == "token":
            return F.cross_entropy(logits, y, reduction="none")
        if self.kind == "trie":
            mask = torch.full_like(logits, float("-inf"))
            mask[inputs["trie_rows"].to(y.device), inputs["trie_cols"].to(y.device)] = 0.0
            logits = logits + mask
        return F.cross_entropy(logits, self._target_index(y), reduction="none")

    def _target_index(self, y):
        """Each target token's index in the vocabulary (an error names one outside it)."""
        import torch

        if self._lookup is None:
            self._lookup = torch.full((max(self.vocabulary) + 2,), -1, dtype=torch.long)
            self._lookup[torch.tensor(self.vocabulary)] = torch.arange(len(self.vocabulary))
        lookup = self._lookup.to(y.device)
        index = lookup[y.clamp(0, lookup.numel() - 1)]
        outside = (index < 0) | (y >= lookup.numel() - 1)
        if bool(outside.any()):
            bad = int(y[outside][0])
            raise InvalidInputError(f"answer token {bad} is not in the catalog's vocabulary")
        return index


def _causal_lm(model):
    """The Hugging Face causal LM inside the DDP and peft wrappers (the forward still goes
    through the wrappers; the head is swapped on this one)."""
    while hasattr(model, "module"):
        model = model.module
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def _selected_head(head, at_loss, keep, vocabulary):
    """A stand-in for the model's head during one forward: the logits of the loss positions only
    (``at_loss``, then ``keep``), over ``vocabulary`` only (None: every token). The head's
    weight is used inside the forward, as DDP requires. (A class made here: torch is imported
    lazily.)"""
    import torch
    import torch.nn.functional as F

    class SelectedHead(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = head

        def forward(self, hidden):
            h = hidden[:, :-1][at_loss]
            if keep is not None:
                h = h[keep]
            if vocabulary is None:
                return self.head(h)
            bias = self.head.bias
            weight = self.head.weight[vocabulary]
            return F.linear(h, weight, None if bias is None else bias[vocabulary])

    return SelectedHead()


@contextlib.contextmanager
def _head_replaced(base, replacement):
    """The model's head swapped for ``replacement`` (restored afterwards, whatever happens)."""
    head = base.get_output_embeddings()
    base.set_output_embeddings(replacement)
    try:
        yield
    finally:
        base.set_output_embeddings(head)
