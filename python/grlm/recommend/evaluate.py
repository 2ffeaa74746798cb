"""Recommendation for evaluation cases: beam search, parsing, grounding, ranking, metrics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from grlm.answer_format import parse_answer
from grlm.errors import InvalidInputError
from grlm.eval.ranking import DEFAULT_KS
from grlm.recommend.generate import beam_search
from grlm.recommend.rank import HIT_NONE, rank_items


@dataclass(frozen=True)
class Case:
    """One user to recommend for: the prompt's token ids (``Objective.history_prompt_ids``)
    and, when evaluating, the held-out target."""

    user_id: str
    prompt_ids: tuple[int, ...]
    target: str | None = None


@dataclass
class UserRecommendation:
    user_id: str
    target: str | None
    items: list[str]  # ranked distinct items, best first
    item_hits: list[str]  # hit type of the beam that contributed each item
    beams: list[str]  # generated answers, best beam first
    beam_scores: list[float]
    beam_hits: list[str]  # "direct" | "structural" | "none" (unparseable beams are "none")


@dataclass
class RecommendRun:
    users: list[UserRecommendation] = field(default_factory=list)
    generation_seconds: float = 0.0
    grounding_seconds: float = 0.0
    ground_queries: int = 0
    unparsed_beams: int = 0

    @property
    def generation_seconds_per_user(self) -> float:
        return self.generation_seconds / max(len(self.users), 1)

    @property
    def grounding_seconds_per_user(self) -> float:
        return self.grounding_seconds / max(len(self.users), 1)

    @property
    def grounding_ms_per_term_id(self) -> float:
        return 1000.0 * self.grounding_seconds / max(self.ground_queries, 1)


def _ground_all(grounder, queries: list[tuple[str, ...]], k: int) -> list:
    """ground_batch on every query; should the batch be refused (one bad Term ID), each query
    is grounded alone and the refused ones count as no hit."""
    if not queries:
        return []
    try:
        return list(grounder.ground_batch(queries, k=k))
    except (ValueError, RuntimeError):
        out = []
        for query in queries:
            try:
                out.append(grounder.ground(query, k=k))
            except (ValueError, RuntimeError):
                out.append(None)
        return out


def recommend(
    model,
    tokenizer,
    grounder,
    cases: Sequence[Case],
    *,
    k: int = 20,
    num_beams: int = 20,
    batch_size: int = 4,
    max_new_tokens: int = 48,
    term_id_length: int | None = None,
    trie=None,
    decoder: str = "fast",
    eos_token_id: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    normalization: str = "full",
    vocabulary=None,
    parse: Callable[[str, int | None], tuple[str, ...] | None] = parse_answer,
) -> RecommendRun:
    """Top-``k`` distinct items for every case: beam search over ``batch_size`` users at a
    time with the ``"fast"`` or ``"hf"`` decoder (:mod:`grlm.recommend.generate`; constrained
    to the catalog when ``trie`` is given, answers ended by ``eos_token_id`` otherwise), each
    beam parsed (``parse``: the objective's :meth:`~grlm.objective.Objective.parse_answer`) and
    grounded (``grounder.ground_batch``), beams → items by
    :func:`grlm.recommend.rank.rank_items`. Users are returned in the order of ``cases``.
    ``normalization`` and ``vocabulary`` score tokens as the model was trained
    (:class:`grlm.model_card.ModelCard`)."""
    if k < 1:
        raise InvalidInputError(f"k must be at least 1, got {k}")
    run = RecommendRun()
    users: list[UserRecommendation | None] = [None] * len(cases)
    # Users of similar prompt length decode together: little left padding in every batch.
    order = sorted(range(len(cases)), key=lambda i: len(cases[i].prompt_ids))
    chunk_size = batch_size * 8  # several decoder batches per grounding batch
    for start in range(0, len(order), chunk_size):
        rows = order[start : start + chunk_size]
        chunk = [cases[i] for i in rows]
        beams, seconds = beam_search(
            model,
            tokenizer,
            [c.prompt_ids for c in chunk],
            decoder=decoder,
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
            trie=trie,
            eos_token_id=eos_token_id,
            normalization=normalization,
            vocabulary=vocabulary,
        )
        run.generation_seconds += seconds
        parsed = [[parse(b.text, term_id_length) for b in user_beams] for user_beams in beams]
        queries = [terms for user in parsed for terms in user if terms is not None]
        started = time.perf_counter()
        grounded = iter(_ground_all(grounder, queries, k))
        run.grounding_seconds += time.perf_counter() - started
        run.ground_queries += len(queries)
        for row, case, user_beams, user_parsed in zip(rows, chunk, beams, parsed):
            results = [next(grounded) if terms is not None else None for terms in user_parsed]
            run.unparsed_beams += sum(terms is None for terms in user_parsed)
            ranked = rank_items(results, k)
            users[row] = UserRecommendation(
                user_id=case.user_id,
                target=case.target,
                items=[r.item_id for r in ranked],
                item_hits=[r.hit for r in ranked],
                beams=[b.text for b in user_beams],
                beam_scores=[b.score for b in user_beams],
                beam_hits=[HIT_NONE if r is None else str(r.hit) for r in results],
            )
        if progress is not None:
            progress(min(start + chunk_size, len(cases)), len(cases))
    run.users = list(users)
    return run


def metrics(
    run: RecommendRun, *, ks: Sequence[int] = DEFAULT_KS, vr_ks: Sequence[int] | None = None
) -> dict:
    """Recall@K, NDCG@K, MRR (:func:`grlm.eval.evaluate_ranked_lists`), VR@K and DHR@K over
    the beams (:func:`grlm.eval.grounding_metrics`), the share of listed items per hit type and
    the per-user generation and grounding times."""
    from grlm.eval import evaluate_ranked_lists, grounding_metrics

    users = [u for u in run.users if u.target is not None]
    if not users:
        raise InvalidInputError("no evaluation case has a target")
    out = dict(evaluate_ranked_lists([u.items for u in users], [u.target for u in users], ks=ks))
    beams = max(len(u.beam_hits) for u in users)
    out.update(
        grounding_metrics(
            [u.beam_hits for u in users], ks=vr_ks or sorted({1, min(5, beams), beams})
        )
    )
    listed = [h for u in users for h in u.item_hits]
    for hit in ("direct", "structural"):
        out[f"items_from_{hit}"] = listed.count(hit) / max(len(listed), 1)
    out["mean_list_length"] = len(listed) / len(users)
    out["distinct_top1"] = len({u.items[0] for u in users if u.items})
    out["unparsed_beams"] = run.unparsed_beams
    out["generation_s_per_user"] = run.generation_seconds_per_user
    out["grounding_s_per_user"] = run.grounding_seconds_per_user
    out["grounding_ms_per_term_id"] = run.grounding_ms_per_term_id
    return out
