"""Fast beam search over a token trie (or free), with Hugging Face's beam-search semantics.

Per step: the model runs one token per beam row (prompt KV shared by the beams of a request, see
:mod:`grlm.decoding.runners`); the constrained step scores only the allowed children of each
row's trie node (:func:`grlm.decoding.constrained_step.constrained_topk`); a per-request merge
keeps the best ``2 * num_beams`` candidates, moves end tokens among the first ``num_beams`` to
the finished pool (score ``/ length ** length_penalty``) and continues the best ``num_beams``
others. A dead prefix or fewer valid continuations than beams leaves ``-inf`` fillers that never
produce anything and are dropped from the results; an empty allowed set is never an
unconstrained step. On CUDA the whole step (model, constrained top-k, merge, cache reorder) is
captured once in a CUDA graph and replayed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from grlm.decoding.constrained_step import (
    NORMALIZATIONS,
    constrained_topk,
    free_topk,
    resolve_backend,
)
from grlm.decoding.reference import Hypothesis
from grlm.decoding.vocabulary import VocabularyColumns
from grlm.errors import InvalidInputError

_NEG = float("-inf")


@dataclass
class _State:
    """Static per-search tensors, updated in place (a CUDA graph replays on the same storage)."""

    score: object  # (B, nb) float32 running log-prob sums, -inf fillers
    node: object  # (B, nb) int64 trie node
    tokens: object  # (B, nb, S) int64 generated tokens
    last: object  # (B, nb) int64 last token (input of the next step)
    parent: object  # (B * nb,) int64 parent row of each row after the last merge
    pool_score: object  # (B, nb) float32 finished, normalized; -inf empty
    pool_log_prob: object
    pool_tokens: object
    pool_length: object
    pool_node: object
    unsatisfied: object  # (B,) bool: Hugging Face's "a running beam may still improve"
    done: object  # (B,) bool
    step: object  # 0-d int64: index of the token chosen by the next merge


class BeamSearchDecoder:
    """Constrained (or free) beam search of a causal LM.

    Parameters
    ----------
    model
        A Hugging Face causal LM (Llama-family models use the shared-prompt runner, any other one
        the expanded-cache runner).
    trie
        :class:`grlm.decoding.trie.TokenTrie` of the catalog (its end token must be the model's
        EOS); required for constrained search.
    num_beams, length_penalty, early_stopping
        As in Hugging Face's ``GenerationConfig``.
    normalization
        ``"full"`` (default, Hugging Face's: log-softmax over the vocabulary) or ``"allowed"``
        (experimental: renormalised over the allowed children).
    backend
        Constrained step: ``"auto"`` (Triton on CUDA), ``"torch"`` or ``"triton"``.
    cuda_graph
        ``"auto"``: capture the step in a CUDA graph on CUDA with a graph-safe runner and
        backend; ``True`` requires it; ``False`` never.
    eos_token_id
        The token that ends an answer: the trie's end token when a trie is given (a different
        value is refused), else this value or the model's EOS.
    vocabulary
        Token ids the model may write (None: all): every other token gets probability 0, so a
        log-softmax is over these tokens only. The runners return only their logit columns
        (:class:`grlm.decoding.vocabulary.VocabularyColumns`), and a trie token outside them is
        never chosen. For models trained with the catalog or trie loss
        (:mod:`grlm.train.losses`).
    """

    def __init__(
        self,
        model,
        trie=None,
        *,
        num_beams: int = 20,
        length_penalty: float = 1.0,
        early_stopping: bool | str = False,
        normalization: str = "full",
        backend: str = "auto",
        cuda_graph: bool | str = "auto",
        shared_prompt: bool | str = "auto",
        pad_token_id: int | None = None,
        eos_token_id: int | None = None,
        vocabulary=None,
    ):
        from grlm.decoding.runners import (
            ExpandedCacheRunner,
            SharedPromptRunner,
            shared_prompt_supported,
        )

        if num_beams < 1:
            raise InvalidInputError(f"num_beams must be >= 1, got {num_beams}")
        if normalization not in NORMALIZATIONS:
            raise InvalidInputError(
                f"normalization must be one of {NORMALIZATIONS}, got {normalization!r}"
            )
        if early_stopping not in (True, False, "never"):
            raise InvalidInputError(
                f"early_stopping must be True, False or 'never', got {early_stopping!r}"
            )
        self.model = model
        self.trie = trie
        self.num_beams = int(num_beams)
        self.length_penalty = float(length_penalty)
        self.early_stopping = early_stopping
        self.normalization = normalization
        self.device = next(model.parameters()).device
        self.backend = resolve_backend(backend, self.device)
        if shared_prompt == "auto":
            shared_prompt = shared_prompt_supported(model)
        elif shared_prompt and not shared_prompt_supported(model):
            raise InvalidInputError(
                f"shared-prompt decoding does not support model type {model.config.model_type!r}"
            )
        eos = getattr(model.generation_config, "eos_token_id", None) or model.config.eos_token_id
        if isinstance(eos, (list, tuple)):
            eos = eos[0]
        if trie is not None:
            if eos_token_id is not None and int(eos_token_id) != trie.end_token:
                raise InvalidInputError(
                    f"eos_token_id {eos_token_id} != the trie's end token {trie.end_token}"
                )
            eos = trie.end_token
        elif eos_token_id is not None:
            eos = eos_token_id
        if eos is None:
            raise InvalidInputError("the model has no eos_token_id and no trie was given")
        self.eos_token_id = int(eos)
        self.columns = (
            None
            if vocabulary is None
            else VocabularyColumns(model, vocabulary, self.device, self.eos_token_id)
        )
        runner = SharedPromptRunner if shared_prompt else ExpandedCacheRunner
        self.runner = runner(model, columns=self.columns)
        if cuda_graph == "auto":
            cuda_graph = self.device.type == "cuda" and self.runner.graph_safe
        elif cuda_graph and not (self.device.type == "cuda" and self.runner.graph_safe):
            raise InvalidInputError("CUDA graphs need a CUDA model of a shared-prompt type")
        self.cuda_graph = bool(cuda_graph)
        pad = pad_token_id if pad_token_id is not None else model.config.pad_token_id
        self.pad_token_id = int(pad if pad is not None else self.eos_token_id)
        self._graphs: dict = {}
        self._state: _State | None = None
        self._state_key = None

    # -- public ---------------------------------------------------------------------------------
    def search(
        self,
        prompts: Sequence[Sequence[int]],
        *,
        constrained: bool = True,
        max_new_tokens: int | None = None,
        num_return_sequences: int | None = None,
        on_step: Callable[[int], None] | None = None,
        pad_multiple: int = 1,
    ) -> list[list[Hypothesis]]:
        """Beam search for each prompt (token ids); returns per prompt the finished hypotheses,
        best first, at most ``num_return_sequences`` (default ``num_beams``).

        ``on_step(step)`` runs after every step (eagerly, no CUDA graph), for example to remove
        items from the trie mid-search. ``pad_multiple`` rounds the padded prompt width up, so
        that batches of different prompt lengths share a shape (and a captured CUDA graph)."""
        import torch

        if not prompts:
            raise InvalidInputError("no prompts")
        if any(len(p) == 0 for p in prompts):
            raise InvalidInputError("every prompt needs at least one token")
        if constrained:
            if self.trie is None:
                raise InvalidInputError("constrained search needs a trie")
            if self.trie.num_items == 0:
                raise InvalidInputError(
                    "the trie holds no items: constrained decoding needs a non-empty catalog"
                )
            if max_new_tokens is None:
                max_new_tokens = self.trie.max_length
        elif max_new_tokens is None:
            raise InvalidInputError("free beam search needs max_new_tokens")
        if max_new_tokens < 1:
            raise InvalidInputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        arrays = self.trie.arrays(self.device) if constrained else None
        from grlm.decoding.runners import position_ids
        from grlm.lm import left_pad

        if pad_multiple < 1:
            raise InvalidInputError(f"pad_multiple must be >= 1, got {pad_multiple}")
        ids, mask = left_pad(prompts, self.pad_token_id, multiple=pad_multiple, device=self.device)
        positions = position_ids(mask)
        batch, prompt_len = ids.shape
        nb, steps = self.num_beams, int(max_new_tokens)
        with torch.no_grad():
            if self.runner.allocate(batch, nb, prompt_len, steps):
                self._graphs = {}
            state = self._reset_state(batch, steps)
            logits = self.runner.prefill(ids, mask, positions)
            # The first step scores the root's children, which can be the whole vocabulary: the
            # torch path spreads that over the device better than one kernel program per row.
            self._merge(logits.repeat_interleave(nb, dim=0), state, arrays, steps, backend="torch")
            if on_step is not None:
                on_step(0)
            key = (
                batch,
                nb,
                prompt_len,
                steps,
                constrained,
                id(arrays),
                self.backend,
                self.normalization,
            )
            use_graph = self.cuda_graph and on_step is None and steps > 2
            step = 1
            while step < steps and not bool(state.done.all()):
                graph = self._graphs.get(key) if use_graph else None
                if graph is not None:
                    graph[0].replay()
                elif use_graph:
                    # The first step runs eagerly on a side stream (warm-up: Triton compiled,
                    # cuBLAS ready), then the same step is captured for the next ones.
                    side = torch.cuda.Stream()
                    side.wait_stream(torch.cuda.current_stream())
                    with torch.cuda.stream(side):
                        self._body(state, arrays, steps)
                    torch.cuda.current_stream().wait_stream(side)
                    try:
                        # The arrays ride along: the graph reads their memory, and id() must not
                        # be reused by a later export while the graph is cached.
                        self._graphs = {key: (self._capture(state, arrays, steps), arrays)}
                    except RuntimeError as error:  # capture does not run the step: state intact
                        warnings.warn(
                            f"CUDA graph capture failed, decoding eagerly: {error}",
                            RuntimeWarning,
                            stacklevel=2,
                        )
                        self.cuda_graph = use_graph = False
                else:
                    self._body(state, arrays, steps)
                if on_step is not None:
                    on_step(step)
                step += 1
        return self._results(state, constrained, num_return_sequences or nb)

    # -- internals ------------------------------------------------------------------------------
    def _reset_state(self, batch: int, steps: int) -> _State:
        import torch

        nb, dev = self.num_beams, self.device
        key = (batch, nb, steps)
        if self._state is None or self._state_key != key:
            f32, i64 = torch.float32, torch.int64
            self._state = _State(
                score=torch.empty((batch, nb), dtype=f32, device=dev),
                node=torch.empty((batch, nb), dtype=i64, device=dev),
                tokens=torch.empty((batch, nb, steps), dtype=i64, device=dev),
                last=torch.empty((batch, nb), dtype=i64, device=dev),
                parent=torch.empty((batch * nb,), dtype=i64, device=dev),
                pool_score=torch.empty((batch, nb), dtype=f32, device=dev),
                pool_log_prob=torch.empty((batch, nb), dtype=f32, device=dev),
                pool_tokens=torch.empty((batch, nb, steps), dtype=i64, device=dev),
                pool_length=torch.empty((batch, nb), dtype=i64, device=dev),
                pool_node=torch.empty((batch, nb), dtype=i64, device=dev),
                unsatisfied=torch.empty((batch,), dtype=torch.bool, device=dev),
                done=torch.empty((batch,), dtype=torch.bool, device=dev),
                step=torch.empty((), dtype=i64, device=dev),
            )
            self._state_key = key
            self._graphs = {}
        s = self._state
        s.score.fill_(_NEG)
        s.score[:, 0] = 0.0  # one live beam per request at the start
        s.node.zero_()
        s.tokens.fill_(-1)
        s.last.zero_()
        s.parent.copy_(torch.arange(batch * nb, device=dev))
        s.pool_score.fill_(_NEG)
        s.pool_log_prob.fill_(_NEG)
        s.pool_tokens.fill_(-1)
        s.pool_length.zero_()
        s.pool_node.fill_(-1)
        s.unsatisfied.fill_(True)
        s.done.fill_(False)
        s.step.zero_()
        return s

    def _body(self, state: _State, arrays, steps: int):
        """One full decode step: model, constrained merge, suffix reorder (graph-capturable)."""
        logits = self.runner.step(state.last.view(-1), state.step - 1)
        self._merge(logits, state, arrays, steps)
        self.runner.reorder(state.parent)

    def _capture(self, state: _State, arrays, steps: int):
        import torch

        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._body(state, arrays, steps)
        return graph

    def _merge(self, logits, state: _State, arrays, steps: int, backend: str | None = None):
        """Hugging Face's beam-search update for every request, in place, without host syncs
        (with the Triton backend)."""
        import torch

        batch, nb = state.score.shape
        k = 2 * nb
        dev = logits.device
        flat_score = state.score.view(-1)
        if arrays is not None:
            values, edges = constrained_topk(
                logits,
                state.node.view(-1),
                flat_score,
                arrays if self.columns is None else self.columns.trie_arrays(arrays),
                k,
                normalization=self.normalization,
                backend=backend or self.backend,
            )
            safe = edges.clamp(min=0)
            tokens = torch.where(edges >= 0, arrays.child_token[safe].long(), -1)
            children = torch.where(edges >= 0, arrays.child_node[safe].long(), 0)
        else:
            if self.columns is None:
                values, tokens = free_topk(logits, flat_score, k)
            else:
                values, columns = free_topk(logits, flat_score, min(k, logits.shape[1]))
                values, tokens = self.columns.topk_tokens(values, columns, k)
            children = torch.zeros_like(tokens)
        values = values.reshape(batch, nb * k)
        tokens = tokens.reshape(batch, nb * k)
        children = children.reshape(batch, nb * k)
        # Best 2*nb candidates of the request; ties: lower beam, then lower token.
        order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, :k]
        top_values = values.gather(1, order)
        top_tokens = tokens.gather(1, order)
        top_children = children.gather(1, order)
        top_beams = order // k
        finite = torch.isfinite(top_values)
        is_eos = (top_tokens == self.eos_token_id) & finite
        step = state.step
        length = (step + 1).to(torch.float32)
        in_first = torch.arange(k, device=dev) < nb
        pool_full = torch.isfinite(state.pool_score).all(dim=1)
        can_add = state.unsatisfied.clone()
        if self.early_stopping is True:
            can_add &= ~pool_full
        finishing = is_eos
        if arrays is None:  # free search: Hugging Face finishes every beam at max length
            finishing = finishing | (finite & (step + 1 == steps))
        finishing = finishing & in_first[None, :] & can_add[:, None]
        normalized = torch.where(finishing, top_values / length**self.length_penalty, _NEG)
        candidate_tokens = state.tokens.gather(1, top_beams[:, :, None].expand(-1, -1, steps))
        candidate_tokens = candidate_tokens.scatter(
            2, step.view(1, 1, 1).expand(batch, k, 1), top_tokens[:, :, None]
        )
        # Finished pool: keep the best nb of the old pool and the new finished hypotheses.
        merged = torch.cat((state.pool_score, normalized), dim=1)
        keep = torch.sort(merged, dim=1, descending=True, stable=True).indices[:, :nb]
        state.pool_score.copy_(merged.gather(1, keep))
        state.pool_log_prob.copy_(torch.cat((state.pool_log_prob, top_values), 1).gather(1, keep))
        state.pool_tokens.copy_(
            torch.cat((state.pool_tokens, candidate_tokens), 1).gather(
                1, keep[:, :, None].expand(-1, -1, steps)
            )
        )
        state.pool_length.copy_(
            torch.cat((state.pool_length, (step + 1).expand(batch, k)), 1).gather(1, keep)
        )
        state.pool_node.copy_(torch.cat((state.pool_node, top_children), 1).gather(1, keep))
        # Running beams: the best nb candidates that did not end.
        running = torch.where(is_eos | ~finite, _NEG, top_values)
        running = torch.where(state.done[:, None], _NEG, running)
        pick = torch.sort(running, dim=1, descending=True, stable=True).indices[:, :nb]
        new_score = running.gather(1, pick)
        state.score.copy_(new_score)
        state.node.copy_(top_children.gather(1, pick))
        state.last.copy_(top_tokens.gather(1, pick).clamp(min=0))
        state.tokens.copy_(candidate_tokens.gather(1, pick[:, :, None].expand(-1, -1, steps)))
        rows = torch.arange(batch, device=dev)[:, None] * nb
        state.parent.copy_((rows + top_beams.gather(1, pick)).view(-1))
        # Stop a request once no running beam can beat the worst of nb finished hypotheses.
        if self.early_stopping == "never" and self.length_penalty > 0:
            best_length = torch.full_like(length, float(steps))
        else:
            best_length = length
        best = new_score[:, 0] / best_length**self.length_penalty
        pool_full = torch.isfinite(state.pool_score).all(dim=1)
        worst = torch.where(pool_full, state.pool_score.min(dim=1).values, -1.0e9)
        state.unsatisfied &= best > worst
        done = ~state.unsatisfied
        if self.early_stopping is True:
            done |= pool_full
        state.done.copy_(done)
        state.step.add_(1)

    def _results(self, state: _State, constrained: bool, limit: int) -> list[list[Hypothesis]]:
        scores = state.pool_score.cpu().tolist()
        log_probs = state.pool_log_prob.cpu().tolist()
        tokens = state.pool_tokens.cpu().tolist()
        lengths = state.pool_length.cpu().tolist()
        nodes = state.pool_node.cpu().tolist()
        results = []
        for b in range(len(scores)):
            hyps = []
            for j in range(len(scores[b])):
                if scores[b][j] == _NEG:
                    continue
                seq = tuple(tokens[b][j][: lengths[b][j]])
                if constrained:
                    items = tuple(self.trie.items_at(nodes[b][j]))
                    if not items:  # every item of it was removed during the search
                        continue
                elif self.trie is not None:
                    items = tuple(self.trie.items_of(seq))
                else:
                    items = ()
                hyps.append(
                    Hypothesis(
                        tokens=seq, score=scores[b][j], log_prob=log_probs[b][j], items=items
                    )
                )
            results.append(hyps[:limit])
        return results


def constrained_beam_search(
    model,
    tokenizer,
    prompts,
    trie,
    *,
    num_beams: int = 20,
    length_penalty: float = 1.0,
    early_stopping: bool | str = False,
    normalization: str = "full",
    backend: str = "auto",
    cuda_graph: bool | str = "auto",
    constrained: bool = True,
    max_new_tokens: int | None = None,
    num_return_sequences: int | None = None,
) -> list[list[Hypothesis]]:
    """Beam search of ``model`` for each prompt (a string, tokenized with ``tokenizer``, or
    token ids) over the items of ``trie``; see :class:`BeamSearchDecoder`. Each hypothesis names
    the items (several when their Term IDs collide) whose answer it spells."""
    ids = [tokenizer(p)["input_ids"] if isinstance(p, str) else list(p) for p in prompts]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else None
    decoder = BeamSearchDecoder(
        model,
        trie,
        num_beams=num_beams,
        length_penalty=length_penalty,
        early_stopping=early_stopping,
        normalization=normalization,
        backend=backend,
        cuda_graph=cuda_graph,
        pad_token_id=pad,
    )
    return decoder.search(
        ids,
        constrained=constrained,
        max_new_tokens=max_new_tokens,
        num_return_sequences=num_return_sequences,
    )
