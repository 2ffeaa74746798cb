"""Hugging Face ``generate`` integration: a ``LogitsProcessor`` backed by the device-side trie.

For users who keep ``model.generate``. Each call finds every beam row's trie node on the device
(the row's prefix is matched against the previous call's rows, then one child lookup by binary
search in the CSR arrays), and masks all but the node's live children. An empty allowed set (a
dead prefix, a finished beam) masks everything: never an unconstrained step.
"""

from __future__ import annotations

from transformers import LogitsProcessor


def trie_child(arrays, node, token, max_degree: int):
    """Live child of each ``node[i]`` for ``token[i]`` (-1 when none), by batched binary search
    over the sorted child tokens of the CSR rows."""
    import torch

    valid = node >= 0
    safe_node = node.clamp(min=0).long()
    lo = arrays.row_ptr[safe_node].long()
    end = arrays.row_ptr[safe_node + 1].long()
    hi = end.clone()
    last_edge = max(arrays.child_token.numel() - 1, 0)
    token = token.long()
    for _ in range(max(1, int(max_degree).bit_length())):
        open_ = lo < hi
        mid = (lo + hi) // 2
        go_right = open_ & (arrays.child_token[mid.clamp(max=last_edge)].long() < token)
        lo = torch.where(go_right, mid + 1, lo)
        hi = torch.where(open_ & ~go_right, mid, hi)
    at = lo.clamp(max=last_edge)
    found = valid & (lo < end) & (arrays.child_token[at].long() == token)
    child = torch.where(found, arrays.child_node[at].long(), -1)
    alive = arrays.live[child.clamp(min=0)] > 0
    return torch.where((child >= 0) & alive, child, -1)


def allowed_mask(arrays, node, vocab_size: int):
    """(rows, vocab) bool: the live children of each row's node (nothing for node -1)."""
    import torch

    from grlm.decoding.constrained_step import child_edges

    mask = torch.zeros((node.shape[0], vocab_size), dtype=torch.bool, device=node.device)
    rows, _, token, live = child_edges(arrays, node.clamp(min=0).long(), node >= 0)
    if rows.numel() == 0:
        return mask
    ok = live & (token < vocab_size)
    rows_index = rows[:, None].expand_as(token)
    mask[rows_index[ok], token[ok]] = True
    return mask


class TrieLogitsProcessor(LogitsProcessor):
    """Restricts ``generate`` to the items of a :class:`grlm.decoding.trie.TokenTrie`.

    Parameters
    ----------
    trie
        The catalog's trie (its end token must be the generation EOS).
    prompt_length
        Length of the (left-padded) prompt ``input_ids`` given to ``generate``: generated tokens
        start there.

    The processor keeps the previous step's rows and nodes; it starts over at the first step of
    each ``generate`` call, so it can be reused across calls with the same prompt length.
    """

    def __init__(self, trie, prompt_length: int):
        self.trie = trie
        self.prompt_length = int(prompt_length)
        self._arrays = None
        self._previous_ids = None
        self._previous_node = None

    def __call__(self, input_ids, scores):
        import torch

        device = scores.device
        if (
            self._arrays is None
            or self._arrays.structure_version != self.trie._native.structure_version
        ):
            self._arrays = self.trie.arrays(device)
            row_ptr = self._arrays.row_ptr.long()
            self._max_degree = int((row_ptr[1:] - row_ptr[:-1]).max())
        arrays = self._arrays
        generated = input_ids[:, self.prompt_length :]
        rows, length = generated.shape
        if length == 0:
            node = torch.zeros(rows, dtype=torch.long, device=device)
            node = torch.where(arrays.live[0] > 0, node, -1)
        else:
            prev_ids, prev_node = self._previous_ids, self._previous_node
            if prev_ids is None or prev_ids.shape[1] != length - 1:
                raise RuntimeError(
                    "TrieLogitsProcessor must see every step of one generate call "
                    "(create a new processor per call)"
                )
            # Parent row: a previous row whose generated tokens equal this row's prefix.
            same = (generated[:, None, :-1] == prev_ids[None, :, :]).all(dim=-1)
            has_parent = same.any(dim=1)
            parent = same.to(torch.int8).argmax(dim=1)
            parent_node = torch.where(has_parent, prev_node[parent], -1)
            node = trie_child(arrays, parent_node, generated[:, -1], self._max_degree)
        self._previous_ids = generated.clone()
        self._previous_node = node
        mask = allowed_mask(arrays, node, scores.shape[-1])
        return torch.where(mask, scores, float("-inf"))


def prefix_allowed_tokens_fn(trie, prompt_length: int):
    """The usual Python-side constraint for ``generate(prefix_allowed_tokens_fn=...)``: one trie
    walk per beam per step. Dead prefixes get ``[end token]`` because Hugging Face rejects an
    empty list; such beams carry ~-1e9 scores and only ever produce junk hypotheses."""

    def allowed(batch_id, sent):
        tokens = trie.allowed_after(sent[prompt_length:].tolist())
        return tokens if tokens else [trie.end_token]

    return allowed


#: Hugging Face fills the beams it could not complete with scores near -1e9; real scores are far
#: above this.
SPARE_BEAM_SCORE = -1e6


def beam_hypotheses(out, num_beams: int, prompt_width: int, eos_token_id: int):
    """Per prompt, the (answer token tuple, sequence score) of each real beam of a
    ``generate(..., return_dict_in_generate=True, output_scores=True)`` output, cut after the
    first EOS; spare beams (score below :data:`SPARE_BEAM_SCORE`) are dropped."""
    results = []
    for b in range(out.sequences.shape[0] // num_beams):
        hyps = []
        for j in range(num_beams):
            score = float(out.sequences_scores[b * num_beams + j])
            if score < SPARE_BEAM_SCORE:
                continue
            gen = out.sequences[b * num_beams + j, prompt_width:].tolist()
            if eos_token_id in gen:
                gen = gen[: gen.index(eos_token_id) + 1]
            hyps.append((tuple(gen), score))
        results.append(hyps)
    return results
