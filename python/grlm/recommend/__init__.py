"""Recommendation with a fine-tuned model: beam search, Term ID parsing, grounding, ranking.

>>> from grlm.recommend import Case, recommend, metrics                # doctest: +SKIP
>>> from grlm.objective import Objective
>>> packed = Objective("packed")
>>> cases = [Case(user, tuple(packed.history_prompt_ids(tokenizer, history, term_ids)), target)
...          for user, history, target in examples]
>>> run = recommend(model, tokenizer, grounder, cases, k=20, decoder="fast",
...                 eos_token_id=packed.end_token(tokenizer), parse=packed.parse_answer)
>>> metrics(run)["recall@10"]
"""

from grlm.recommend.evaluate import Case, RecommendRun, UserRecommendation, metrics, recommend
from grlm.recommend.generate import Beam, beam_search, generation_config
from grlm.recommend.rank import RankedItem, rank_items

__all__ = [
    "Beam",
    "Case",
    "RankedItem",
    "RecommendRun",
    "UserRecommendation",
    "beam_search",
    "generation_config",
    "metrics",
    "rank_items",
    "recommend",
]
