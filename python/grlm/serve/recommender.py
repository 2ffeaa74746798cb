"""``/v1/recommend``: a fine-tuned model, its objective and the catalog's token trie.

The prompt of a history is built exactly as training built it
(:meth:`grlm.objective.Objective.history_prompt_ids`), decoding is the fast constrained
beam search over the catalog's trie, scoring tokens as the model folder's
:class:`grlm.model_card.ModelCard` says it was trained, and beams become items by
:func:`grlm.recommend.recommend` (parse, ground, rank) -- the evaluation path, for one user.

A model trained with the catalog loss scores over the tokens of the catalog's answers: those of
the catalog it was loaded with plus those of every item added since (removing an item does not
shrink it; a token no live item uses is never allowed by the trie anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from grlm.model_card import ModelCard
from grlm.serve.protocol import BadRequest


@dataclass(frozen=True)
class LoadedModel:
    """The model and tokenizer, shared by every catalog snapshot."""

    model: object
    tokenizer: object
    card: ModelCard
    num_beams: int
    vocabulary: set = field(default_factory=set)  # grows with the catalog (module docstring)

    @classmethod
    def load(
        cls,
        model_dir: str,
        *,
        objective: str | None = None,
        num_beams: int = 10,
        precision: str = "auto",
    ):
        """The model of ``model_dir`` as its card says, on the CPU in ``precision``
        (:func:`grlm.lm.inference_dtype`); ``objective`` overrides the card's (for folders
        written before cards existed)."""
        from grlm.lm import inference_dtype, load_model, load_tokenizer

        card = ModelCard.load(model_dir)
        if objective is not None and objective != card.objective:
            card = replace(card, objective=objective, prompt="chat", lines="bracketed")
        model = load_model(model_dir, dtype=inference_dtype("cpu", precision))
        return cls(model, load_tokenizer(model_dir), card, num_beams)

    @property
    def objective(self):
        return self.card.to_objective()

    def trie_for(self, grounder):
        """The token trie spelling exactly the catalog of ``grounder`` (keyed by item id)."""
        term_ids = {item: tuple(grounder.item_terms(item)) for item in grounder.item_ids}
        if self.card.restricts_vocabulary:
            self.vocabulary.update(self.objective.vocabulary(self.tokenizer, term_ids))
        return self.objective.trie(self.tokenizer, term_ids)

    def encode(self, terms: Sequence[str]) -> list[int]:
        """A Term ID's answer tokens, as the trie holds them (for catalog changes)."""
        ids = self.objective.answer_ids(self.tokenizer, terms)
        if self.card.restricts_vocabulary:
            self.vocabulary.update(ids)
        return ids

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
            normalization=self.card.normalization,
            vocabulary=sorted(self.vocabulary) if self.card.restricts_vocabulary else None,
            parse=self.objective.parse_answer,
        )
        user = run.users[0]
        return {"items": user.items, "hits": user.item_hits}
