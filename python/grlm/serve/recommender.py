"""``/v1/recommend``: a fine-tuned model, its objective and the catalog's token trie.

The prompt of a history is built exactly as training built it
(:meth:`grlm.train.objective.Objective.history_prompt_ids`), decoding is the fast constrained
beam search over the catalog's trie, and beams become items by
:func:`grlm.recommend.recommend` (parse, ground, rank) -- the evaluation path, for one user.
"""

from __future__ import annotations

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

        return cls(load_model(model_dir), load_tokenizer(model_dir), Objective(objective),
                   num_beams)

    def for_catalog(self, grounder) -> Recommender:
        """A recommender whose trie spells exactly the catalog of ``grounder``."""
        term_ids = {item: tuple(grounder.item_terms(item)) for item in grounder.item_ids}
        trie = self.objective.trie(self.tokenizer, term_ids)
        return Recommender(self, grounder, term_ids, trie)


@dataclass(frozen=True)
class Recommender:
    loaded: LoadedModel
    grounder: object
    term_ids: dict
    trie: object

    def recommend(self, history: list[str], k: int) -> dict:
        """Top-k items after ``history`` (oldest first): ``{"items", "hits"}``."""
        from grlm.recommend import Case, recommend

        unknown = [item for item in history if item not in self.term_ids]
        if unknown:
            raise BadRequest(422, f"history item {unknown[0]!r} is not in the catalog")
        m = self.loaded
        prompt = m.objective.history_prompt_ids(m.tokenizer, history, self.term_ids)
        run = recommend(m.model, m.tokenizer, self.grounder, [Case("request", tuple(prompt))],
                        k=k, num_beams=m.num_beams, batch_size=1,
                        term_id_length=self.grounder.term_id_length, trie=self.trie,
                        decoder="fast", eos_token_id=m.objective.end_token(m.tokenizer))
        user = run.users[0]
        return {"items": user.items, "hits": user.item_hits}
