"""Prefix-constrained beam search over a catalog's token trie.

- :class:`TokenTrie`: every item's answer tokens (``encode_answer``) in the C++ core's CSR trie;
- :class:`BeamSearchDecoder` / :func:`constrained_beam_search`: the fast decoder (shared prompt
  cache, fused constrained step, CUDA graph on GPU);
- :func:`reference_constrained_beam_search`: the plain oracle;
- :mod:`grlm.decoding.hf`: a ``LogitsProcessor`` for ``model.generate`` (imports transformers).

Only the trie is imported eagerly; torch is imported where it is used.
"""

from grlm.decoding.reference import Hypothesis, reference_constrained_beam_search
from grlm.decoding.trie import TokenTrie


def __getattr__(name):
    if name in ("BeamSearchDecoder", "constrained_beam_search"):
        from grlm.decoding import beam_search

        return getattr(beam_search, name)
    raise AttributeError(name)


__all__ = [
    "BeamSearchDecoder",
    "Hypothesis",
    "TokenTrie",
    "constrained_beam_search",
    "reference_constrained_beam_search",
]
