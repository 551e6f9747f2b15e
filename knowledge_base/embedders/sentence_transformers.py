"""A sentence-transformers model that staff install themselves (a directory or an installed model name).

Loaded offline: a government deployment must not fetch models at run time, so HF_HUB_OFFLINE is
set before the library is imported and a missing model is a clear error rather than a download.
"""

from __future__ import annotations

import importlib
import os
import threading
from pathlib import Path

import numpy as np


def resolve_model(spec: str) -> str:
    """A model directory from a path, or from an installed package that bundles one (``get_model_path()``)."""
    if not spec:
        raise ValueError("embedder = sentence-transformers 需要设置 [knowledge_base] sentence_transformers_model")
    path = Path(os.path.expanduser(spec))
    if path.is_dir():
        return str(path)
    module_name = spec.replace("-", "_")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ValueError(f"找不到句向量模型 {spec}：既不是目录，也不是已安装的模型包") from None
    getter = getattr(module, "get_model_path", None)
    if getter is None:
        raise ValueError(f"模型包 {spec} 没有 get_model_path()")
    return str(getter())


class SentenceTransformersEmbedder:
    def __init__(self, model: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover
            raise ImportError("embedder sentence-transformers needs: pip install sentence-transformers") from exc
        path = resolve_model(model)
        self._model = SentenceTransformer(path, device="cpu")
        self.name = f"sentence-transformers:{Path(path).name if Path(path).name != 'model' else model}"
        model_dim = getattr(self._model, "get_embedding_dimension", None)  # renamed in sentence-transformers 6
        self.dim = int(model_dim() if model_dim else self._model.get_sentence_embedding_dimension())
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)
