"""The unanswered-questions log, grouped into "hot questions" curators should add to the FAQ.

Grouping happens when the list is read, not when a query is logged: the threshold can change
and curators always see the current grouping. Each logged query keeps the embedding computed for
its search, so grouping costs no model calls (queries from another embedder are re-embedded).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from knowledge_base.embedders import Embedder
from knowledge_base.store import Store
from knowledge_base.text import normalize


@dataclass
class Group:
    question: str                      # the most frequent wording in the group
    count: int = 0
    ids: list[int] = field(default_factory=list)
    wordings: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    top_entry_ids: Counter[str] = field(default_factory=Counter)
    last_at: str = ""
    reason: str = ""                   # why the most recent query of the group was not answered

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question, "count": self.count, "ids": self.ids, "last_at": self.last_at,
            "wordings": [{"text": t, "count": c} for t, c in self.wordings.most_common(10)],
            "outcomes": dict(self.outcomes),
            "nearest_entry_id": self.top_entry_ids.most_common(1)[0][0] if self.top_entry_ids else None,
            "reason": self.reason,
        }


def groups(store: Store, embedder: Embedder, similarity: float, limit: int) -> list[dict[str, Any]]:
    """Open logged queries grouped by meaning, most asked first."""
    rows = store.unanswered_rows(limit)
    if not rows:
        return []
    # Identical wording (after normalisation) is one item before any vector work.
    items: dict[str, list[Any]] = {}
    for row in rows:
        items.setdefault(normalize(row.query) or row.query, []).append(row)
    keys = list(items)
    vectors = np.zeros((len(keys), embedder.dim), dtype=np.float32)
    missing = []
    for i, key in enumerate(keys):
        row = items[key][0]
        if row.embedder == embedder.name and row.vector and len(row.vector) == 4 * embedder.dim:
            vectors[i] = np.frombuffer(row.vector, dtype=np.float32)
        else:
            missing.append(i)
    if missing:
        vectors[missing] = embedder.embed([items[keys[i]][0].query for i in missing])
    order = sorted(range(len(keys)), key=lambda i: -len(items[keys[i]]))
    centres: list[np.ndarray] = []
    result: list[Group] = []
    for i in order:
        vector = vectors[i]
        sims = np.array([c @ vector for c in centres]) if centres else np.zeros(0)
        if len(sims) and sims.max() >= similarity:
            group = result[int(sims.argmax())]
        else:
            group = Group(question=items[keys[i]][0].query)
            result.append(group)
            centres.append(vector)
        for row in items[keys[i]]:
            group.count += 1
            group.ids.append(row.id)
            group.wordings[row.query] += 1
            group.outcomes[row.outcome] += 1
            if row.top_entry_id:
                group.top_entry_ids[row.top_entry_id] += 1
            if row.at >= group.last_at:
                group.last_at = row.at
                group.reason = row.reason or group.reason
    for group in result:
        group.question = group.wordings.most_common(1)[0][0]
    result.sort(key=lambda g: (-g.count, g.question))
    return [g.to_dict() for g in result]
