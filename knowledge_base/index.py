"""An immutable search index over the served entries: dense (faiss), two keyword legs, off-topic anchors.

The legs: the embedder's cosine to the entry's wordings (question, alternates, "also answers"); character
n-grams of those wordings; character n-grams of the entry's *answer*. The answer leg is there because
residents often ask about a detail only the answer names (保温箱, 起付线, 加装电梯): no wording of
the entry says it, so the wording legs rank a neighbour first. On the spent near-miss files' covered
questions it raised top-1 from 0.937 to 0.964 for the blind writers (docs/measurements.md).

Immutable on purpose: a rebuild makes a whole new ``Index`` and the search service swaps one
reference, so a reader holds either the old index or the new one, never a half-built one.
``IndexFlatIP`` (exact inner product) is right at FAQ scale and needs no training.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import faiss
import numpy as np
from sqlalchemy.exc import SQLAlchemyError

from knowledge_base.config import KbConfig
from knowledge_base.embedders import Embedder
from knowledge_base.entry import Entry
from knowledge_base.keyword_leg import KeywordIndex
from knowledge_base.store import Store

log = logging.getLogger(__name__)


class VectorCache:
    """Text → vector for one embedder, so a rebuild after one edit embeds only the changed texts.

    With a store, vectors are also kept in the database: a restart, the CLI or a second gateway
    process loads them instead of running the model over every entry again.
    """

    def __init__(self, embedder: Embedder, store: Store | None = None) -> None:
        self.embedder, self.store = embedder, store
        self._vectors: dict[str, np.ndarray] = {}
        self.model_calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing and self.store is not None:
            keys = {hashlib.sha1(t.encode("utf-8")).hexdigest(): t for t in missing}
            for key, blob in self.store.load_vectors(self.embedder.name, list(keys)).items():
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape == (self.embedder.dim,):
                    self._vectors[keys[key]] = vector
            missing = [t for t in missing if t not in self._vectors]
        if missing:
            self.model_calls += 1
            fresh = dict(zip(missing, self.embedder.embed(missing), strict=True))
            self._vectors.update(fresh)
            if self.store is not None:
                try:
                    self.store.save_vectors(self.embedder.name, {
                        hashlib.sha1(t.encode("utf-8")).hexdigest(): v.astype(np.float32).tobytes()
                        for t, v in fresh.items()})
                except SQLAlchemyError:
                    log.warning("向量缓存写入失败（不影响检索）", exc_info=True)
        if not texts:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts]).astype(np.float32)

    def retain(self, texts: set[str]) -> None:
        """Forget vectors of texts no longer indexed (edited answers would otherwise pile up)."""
        self._vectors = {t: v for t, v in self._vectors.items() if t in texts}


@dataclass
class Candidate:
    entry: Entry
    dense: float
    keyword: float
    fused: float
    dense_mean: float = 0.0   # mean cosine over the entry's wordings: one close alternate vs. all of them (the gate)
    answer: float = 0.0       # character n-gram cosine of the query to the entry's answer
    # The vector of its wording closest to the query (the answer gate compares the two).
    nearest: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass
class Hits:
    candidates: list[Candidate]       # best first, one per entry
    offtopic: float                   # cosine of the closest off-topic anchor
    query_vector: np.ndarray = field(repr=False)


class Index:
    def __init__(self, entries: list[Entry], dense_rows: np.ndarray, vectors: np.ndarray, keyword: KeywordIndex,
                 keyword_rows: np.ndarray, anchors: np.ndarray, config: KbConfig, revision: int,
                 built_on: dt.date, build_seconds: float) -> None:
        self.entries, self.config, self.revision, self.built_on = entries, config, revision, built_on
        self.build_seconds = build_seconds
        self.dense_rows, self.keyword_rows, self.keyword, self.anchors = dense_rows, keyword_rows, keyword, anchors
        self.dim = vectors.shape[1]
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        self.faiss = _dense_index(vectors, config)
        if isinstance(self.faiss, faiss.IndexFlat) and self.faiss.ntotal:
            # A view of faiss's own storage (no second copy) for scoring candidate rows exactly.
            self._xb = faiss.rev_swig_ptr(self.faiss.get_xb(), self.faiss.ntotal * self.dim).reshape(-1, self.dim)
        else:
            self._xb = vectors
        self._dense_by_entry = _group_rows(dense_rows, len(entries))
        self._keyword_by_entry = _group_rows(keyword_rows, len(entries))
        # One row per entry, in entry order: an answer's row number is its entry's.
        self.answers = KeywordIndex([e.answer for e in entries], config.keyword_ngram_min, config.keyword_ngram_max)

    @classmethod
    def build(cls, entries: list[Entry], cache: VectorCache, anchors: list[str], config: KbConfig,
              revision: int, today: dt.date | None = None) -> Index:
        """Embed (through the cache) and index the entries served ``today``."""
        started = time.perf_counter()
        today = today or dt.date.today()
        served = [e for e in entries if e.is_served(today)]
        dense_texts, dense_rows, kw_texts, kw_rows = [], [], [], []
        for i, entry in enumerate(served):
            for text in entry.texts():
                dense_texts.append(text)
                dense_rows.append(i)
            kw_texts.extend(entry.texts())
            kw_rows.extend([i] * len(entry.texts()))
            if entry.keywords:
                kw_texts.append(" ".join(entry.keywords))
                kw_rows.append(i)
        embedded = cache.embed(dense_texts + anchors)  # one model call for everything new
        vectors, anchor_vectors = embedded[:len(dense_texts)], embedded[len(dense_texts):]
        cache.retain(set(dense_texts) | set(anchors))
        keyword = KeywordIndex(kw_texts, config.keyword_ngram_min, config.keyword_ngram_max)
        index = cls(served, np.asarray(dense_rows, dtype=np.int64), vectors, keyword,
                    np.asarray(kw_rows, dtype=np.int64), anchor_vectors, config, revision, today, 0.0)
        index.build_seconds = time.perf_counter() - started
        return index

    @classmethod
    def from_vectors(cls, entries: list[Entry], vectors: np.ndarray, dense_rows: np.ndarray,
                     kw_texts: list[str], kw_rows: np.ndarray, anchors: np.ndarray, config: KbConfig) -> Index:
        """An index over precomputed vectors (the benchmark's synthetic large size)."""
        started = time.perf_counter()
        keyword = KeywordIndex(kw_texts, config.keyword_ngram_min, config.keyword_ngram_max)
        index = cls(entries, dense_rows, vectors, keyword, kw_rows, anchors, config, 0, dt.date.today(), 0.0)
        index.build_seconds = time.perf_counter() - started
        return index

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def nbytes(self) -> int:
        return (self._xb.nbytes + self.keyword.nbytes + self.answers.nbytes + self.dense_rows.nbytes
                + self.keyword_rows.nbytes)

    def search(self, query: str, query_vector: np.ndarray, k: int) -> Hits:
        """Entries ranked by the fused score; every leg nominates candidates, every leg scores every candidate."""
        q = np.ascontiguousarray(query_vector.reshape(1, -1), dtype=np.float32)
        offtopic = float((self.anchors @ q[0]).max()) if len(self.anchors) else -1.0
        if not self.entries:
            return Hits([], offtopic, q[0])
        n = self.config.candidates
        _, dense_hits = self.faiss.search(q, min(n, self.faiss.ntotal))
        qkw, qans = self.keyword.vector(query), self.answers.vector(query)
        kw_hits, _ = self.keyword.top(qkw, n)
        answer_hits, _ = self.answers.top(qans, n)
        picked = dict.fromkeys(int(self.dense_rows[r]) for r in dense_hits[0] if r >= 0)
        picked.update(dict.fromkeys(int(self.keyword_rows[r]) for r in kw_hits))
        picked.update(dict.fromkeys(int(e) for e in answer_hits))
        ids = np.fromiter(picked, dtype=np.int64)
        dense, dense_mean, nearest_row = _per_entry([self._dense_by_entry[e] for e in ids],
                                                    lambda rows: self._xb[rows] @ q[0])
        keyword, _, _ = _per_entry([self._keyword_by_entry[e] for e in ids],
                                   lambda rows: self.keyword.score_rows(qkw, rows))
        answer = self.answers.score_rows(qans, ids)
        w, a = self.config.keyword_weight, self.config.answer_weight
        fused = (1 - w - a) * dense + w * keyword + a * answer
        order = np.argsort(-fused, kind="stable")[:k]
        candidates = [Candidate(self.entries[int(ids[i])], float(dense[i]), float(keyword[i]), float(fused[i]),
                                float(dense_mean[i]), float(answer[i]), self._vector(int(nearest_row[i])))
                      for i in order]
        return Hits(candidates, offtopic, q[0])

    def _vector(self, row: int) -> np.ndarray:
        """A copy of one wording's vector (the index's storage stays private); zeros for an entry without one."""
        if row < 0:
            return np.zeros(self.dim, dtype=np.float32)
        return np.array(self._xb[row])


def _dense_index(vectors: np.ndarray, config: KbConfig) -> faiss.Index:
    """Exact inner product at FAQ scale; IVF (inner-product k-means cells) for very large stores."""
    rows, dim = vectors.shape
    if rows < config.ivf_min_rows:
        index = faiss.IndexFlatIP(dim)
    else:
        nlist = min(config.ivf_max_nlist, int(4 * np.sqrt(rows)))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(vectors)
        index.nprobe = config.ivf_nprobe
    if rows:
        index.add(vectors)
    return index


def _per_entry(groups: list[np.ndarray], score: Callable[[np.ndarray], np.ndarray],
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each entry's best and mean row score and its best row (-1 for none), from one batch of scores for all
    candidate rows (no per-entry calls)."""
    lengths = np.fromiter((len(g) for g in groups), dtype=np.int64, count=len(groups))
    best = np.zeros(len(groups), dtype=np.float32)
    mean = np.zeros(len(groups), dtype=np.float32)
    best_row = np.full(len(groups), -1, dtype=np.int64)
    if not len(groups) or lengths.sum() == 0:
        return best, mean, best_row
    rows = np.concatenate(groups)
    scores = np.asarray(score(rows), dtype=np.float32)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    nonempty = lengths > 0
    best[nonempty] = np.maximum.reduceat(scores, starts[nonempty])
    mean[nonempty] = np.add.reduceat(scores, starts[nonempty]) / lengths[nonempty]
    # Sorted by entry, best score first within each: the first of each entry's run is its best row.
    by_entry_then_score = np.lexsort((-scores, np.repeat(np.arange(len(groups)), lengths)))
    best_row[nonempty] = rows[by_entry_then_score[starts[nonempty]]]
    return best, mean, best_row


def _group_rows(rows: np.ndarray, n_entries: int) -> list[np.ndarray]:
    """For each entry, the index rows that belong to it."""
    order = np.argsort(rows, kind="stable")
    bounds = np.searchsorted(rows[order], np.arange(n_entries + 1))
    return [order[bounds[i]:bounds[i + 1]] for i in range(n_entries)]
