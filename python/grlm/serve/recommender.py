"""``/v1/recommend``: a fine-tuned model, its objective and the catalog's token trie.

The prompt of a history is built exactly as training built it
(:meth:`grlm.train.objective.Objective.history_prompt_ids`), decoding is the fast constrained
beam search over the catalog's trie, and beams become items by
:func:`grlm.recommend.recommend` (parse, ground, rank) -- the evaluation path, for one user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grlm.serve.requests import BadRequest


@dataclass(frozen=True)
class LoadedModel:
    """The model and tokenizer, shared by every catalog snapshot."""

    model: object
    tokenizer: object
    objective: object
    num_beams: int

    @classmethod
    def load(cls, model_dir: str, *, objective: str = "packed", num_beams: int = 10):
        from grlm.lm import load_model, load_tokenizer
        from grlm.train.objective import Objective

        return cls(
            load_model(model_dir), load_tokenizer(model_dir), Objective(objective), num_beams
        )

    def trie_for(self, grounder):
        """The token trie spelling exactly the catalog of ``grounder`` (keyed by item id)."""
        term_ids = {item: tuple(grounder.item_terms(item)) for item in grounder.item_ids}
        return self.objective.trie(self.tokenizer, term_ids)

    def encode(self, terms: Sequence[str]) -> list[int]:
        """A Term ID's answer tokens, as the trie holds them (for catalog changes)."""
        return self.objective.answer_ids(self.tokenizer, terms)

    def recommend(self, view, trie, history: list[str], k: int) -> dict:
        """Top-k items after ``history`` (oldest first) on one catalog snapshot:
        ``{"items", "hits"}``."""
        from grlm.recommend import Case, recommend

        unknown = [item for item in history if item not in view]
        if unknown:
            raise BadRequest(422, f"history item {unknown[0]!r} is not in the catalog")
        term_ids = {item: view.item_terms(item) for item in history}
        prompt = self.objective.history_prompt_ids(self.tokenizer, history, term_ids)
        run = recommend(
            self.model,
            self.tokenizer,
            view,
            [Case("request", tuple(prompt))],
            k=k,
            num_beams=self.num_beams,
            batch_size=1,
            term_id_length=view.term_id_length,
            trie=trie,
            decoder="fast",
            eos_token_id=self.objective.end_token(self.tokenizer),
        )
        user = run.users[0]
        return {"items": user.items, "hits": user.item_hits}
