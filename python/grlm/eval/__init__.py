"""Evaluation: full-ranking metrics (Recall@K = HR@K, NDCG@K, MRR) and the grounding metrics of
the GRLM paper (VR@K, DHR). numpy only; torch score matrices are accepted when torch is there."""

from grlm.eval.grounding import HIT_TYPES, grounding_metrics
from grlm.eval.ranking import (
    DEFAULT_KS,
    MISSING_RANK,
    RankAccumulator,
    evaluate_ranked_lists,
    evaluate_scores,
    metrics_from_ranks,
    rank_in_list,
    ranks_from_scores,
)

__all__ = [
    "DEFAULT_KS",
    "HIT_TYPES",
    "MISSING_RANK",
    "RankAccumulator",
    "evaluate_ranked_lists",
    "evaluate_scores",
    "grounding_metrics",
    "metrics_from_ranks",
    "rank_in_list",
    "ranks_from_scores",
]
