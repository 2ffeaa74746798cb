"""The logit columns of a decoding vocabulary: the only tokens a model trained with the catalog or
trie loss may write.

Logits come as the vocabulary's columns, in token order, plus one last "never" column that is
always ``-inf``. A step then builds and reads rows of a few thousand columns, not of the whole
vocabulary (49,152 for SmolLM2), and a log-softmax over them is the log-softmax over the whole
vocabulary with every other token at probability 0. A trie token outside the vocabulary reads
the never column, so it is never written.
"""

from __future__ import annotations

import dataclasses

from grlm.errors import InvalidInputError


class VocabularyColumns:
    """Token ids ``vocabulary`` of ``model``'s head as logit columns on ``device``; each id is
    checked against the head, and ``end_token`` must be one of them."""

    def __init__(self, model, vocabulary, device, end_token: int):
        import torch

        ids = sorted({int(t) for t in vocabulary})
        size = model.get_output_embeddings().weight.shape[0]
        if not ids:
            raise InvalidInputError("the vocabulary is empty: no token could be written")
        if ids[0] < 0 or ids[-1] >= size:
            raise InvalidInputError(
                f"vocabulary token ids must be in [0, {size}), got {ids[0]}..{ids[-1]}"
            )
        if int(end_token) not in ids:
            raise InvalidInputError(f"the vocabulary lacks the end token {end_token}")
        self.tokens = torch.tensor(ids, dtype=torch.int64, device=device)
        self.never = len(ids)  # the index of the never column
        self.column_of = torch.full((size,), self.never, dtype=torch.int64, device=device)
        self.column_of[self.tokens] = torch.arange(len(ids), device=device)
        # The never column reads as the end token; it is -inf, so never chosen as one.
        end = torch.tensor([int(end_token)], device=device)
        self.token_of_column = torch.cat((self.tokens, end))
        self._trie: tuple | None = None  # (trie arrays, their copy in columns)

    def select(self, logits):
        """The columns of full-width ``(rows, vocab)`` logits."""
        import torch

        never = torch.full(
            (logits.shape[0], 1), float("-inf"), dtype=logits.dtype, device=logits.device
        )
        return torch.cat((logits[:, self.tokens], never), dim=1)

    def head(self, lm_head):
        """``(weight, bias)`` of the head's rows of the columns, for ``F.linear``: the
        vocabulary's rows, then a row of zeros whose bias is ``-inf`` (the never column)."""
        import torch

        weight = lm_head.weight.detach()
        like = {"dtype": weight.dtype, "device": weight.device}
        bias = (
            torch.zeros(len(self.tokens), **like)
            if lm_head.bias is None
            else lm_head.bias.detach()[self.tokens]
        )
        zero = torch.zeros((1, weight.shape[1]), **like)
        never = torch.full((1,), float("-inf"), **like)
        return torch.cat((weight[self.tokens], zero)), torch.cat((bias, never))

    def trie_arrays(self, arrays):
        """Trie ``arrays`` with each edge's token replaced by its column (cached per export).
        The copy shares ``live``, which the trie updates in place on removal."""
        if self._trie is None or self._trie[0] is not arrays:
            columns = self.column_of[arrays.child_token.long()].to(arrays.child_token.dtype)
            self._trie = (arrays, dataclasses.replace(arrays, child_token=columns))
        return self._trie[1]

    def topk_tokens(self, values, columns, k: int):
        """Per-row top-k ``(values, columns)`` taken over the columns (``min(k, width)`` of
        them) as ``(values, token ids)`` of exactly ``k``: a vocabulary narrower than ``k``
        leaves ``-inf`` fillers."""
        import torch

        missing = k - values.shape[1]
        if missing > 0:
            values = torch.nn.functional.pad(values, (0, missing), value=float("-inf"))
            columns = torch.nn.functional.pad(columns, (0, missing), value=self.never)
        return values, self.token_of_column[columns]
