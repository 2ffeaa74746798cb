"""Context-aware Term Generation (CTG): five-term IDs for any catalog.

One module per step: :mod:`~grlm.terms.text` (item text), :mod:`~grlm.terms.embed`
(sentence embeddings with a disk cache), :mod:`~grlm.terms.neighbours` (faiss top-k),
:mod:`~grlm.terms.prompts` (schema prompt), :mod:`~grlm.terms.generate` (batched HF
generation), :mod:`~grlm.terms.parse` (parsing and validation), :mod:`~grlm.terms.collisions`,
:mod:`~grlm.terms.stats`, :mod:`~grlm.terms.compress` (vocabulary compression),
:mod:`~grlm.terms.io` (the resumable generation log) and :mod:`~grlm.terms.pipeline` tying them
together. Term normalization and Term ID files are :mod:`grlm.term_ids`.

Heavy dependencies (torch, transformers, sentence-transformers, faiss) are imported only by the
modules that use them.
"""
