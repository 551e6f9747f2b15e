"""The keyword leg: character n-gram TF-IDF over normalised text.

Why characters, not words: residents' typos and speech-recognition homophones (社宝卡 for 社保卡)
break word segmentation, but most of the characters still match; in our trials character n-grams
handled them best. Search walks an inverted (term → rows) matrix, so its cost grows with the
query's postings, not with the number of rows.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer

from knowledge_base.text import normalize


class KeywordIndex:
    def __init__(self, texts: list[str], ngram_min: int, ngram_max: int) -> None:
        self._vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(ngram_min, ngram_max),
                                           sublinear_tf=True, preprocessor=normalize, dtype=np.float32)
        if texts and any(normalize(t) for t in texts):
            matrix = self._vectorizer.fit_transform(texts)
            self._fitted = True
        else:
            matrix = sp.csr_matrix((len(texts), 1), dtype=np.float32)
            self._fitted = False
        self._rows = matrix.tocsr()            # row → terms, for scoring given rows
        self._postings = matrix.T.tocsr()      # term → rows, for retrieval
        self.size = matrix.shape[0]

    def vector(self, query: str) -> sp.csr_matrix:
        if not self._fitted:
            return sp.csr_matrix((1, self._rows.shape[1]), dtype=np.float32)
        return self._vectorizer.transform([query]).tocsr()

    def top(self, qvec: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows with the highest cosine to the query (rows and queries are L2-normalised), best first."""
        if qvec.nnz == 0 or self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        scores = (qvec @ self._postings).tocsr()
        rows, values = scores.indices, scores.data
        if len(values) > k:
            keep = np.argpartition(-values, k)[:k]
            rows, values = rows[keep], values[keep]
        order = np.argsort(-values)
        return rows[order].astype(np.int64), values[order].astype(np.float32)

    def score_rows(self, qvec: sp.csr_matrix, rows: np.ndarray) -> np.ndarray:
        if qvec.nnz == 0 or len(rows) == 0:
            return np.zeros(len(rows), dtype=np.float32)
        return np.asarray((self._rows[rows] @ qvec.T).toarray()).ravel().astype(np.float32)

    @property
    def nbytes(self) -> int:
        return sum(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes for m in (self._rows, self._postings))
