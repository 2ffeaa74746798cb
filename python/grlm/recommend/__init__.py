"""Recommendation with a fine-tuned model: beam search, Term ID parsing, grounding, ranking.

>>> from grlm.recommend import Case, recommend, metrics                # doctest: +SKIP
>>> run = recommend(model, tokenizer, grounder, cases, system=SYSTEM_PROMPT, k=20)
>>> metrics(run)["recall@10"]
"""

from grlm.recommend.evaluate import Case, RecommendRun, UserRecommendation, metrics, recommend
from grlm.recommend.generate import Beam, beam_search, generation_config
from grlm.recommend.rank import RankedItem, parse_beam, rank_items

__all__ = ["Beam", "Case", "RankedItem", "RecommendRun", "UserRecommendation", "beam_search",
           "generation_config", "metrics", "parse_beam", "rank_items", "recommend"]
