"""The search service one process holds: the live index, query checks, outcomes and the unanswered log.

Live updates: a daemon thread polls the store's revision counter every ``poll_interval_s`` (so
changes made by another gateway process sharing PostgreSQL are noticed) and is woken at once by
writes made in this process. It builds a new ``Index`` off to the side and swaps one reference;
searches in flight keep the index they started with.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import yaml
from sqlalchemy.exc import SQLAlchemyError

from common import settings
from common.logging import mask_pii
from knowledge_base import calibration, outcome
from knowledge_base.config import KbConfig
from knowledge_base.contrast import ContrastFileError
from knowledge_base.embedders import Embedder
from knowledge_base.embedders import load as load_embedder
from knowledge_base.gate import Gate
from knowledge_base.index import Index, VectorCache
from knowledge_base.store import Store
from knowledge_base.text import has_words
from knowledge_base.verifier import Verifier

log = logging.getLogger(__name__)


class QueryError(ValueError):
    """A query that cannot be searched; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, code: str, message: str, field: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass
class SearchResult:
    outcome: str
    results: list[dict[str, Any]]
    features: calibration.Features | None
    revision: int
    explain: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``explain`` (score, margin, lead, the verifier's reason) is for curators; residents' clients ignore it."""
        return {"outcome": self.outcome, "results": self.results, "explain": self.explain}


def load_anchors(config: KbConfig) -> list[str]:
    """Off-topic anchor phrases (chit-chat, shopping, weather…): what the FAQ is *not* about."""
    path = settings.resolve_path(config.offtopic_anchors_file)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(a) for a in data.get("anchors", [])]


class VerifierFile:
    """The contrast-groups file, reloaded when curators save it (checked at every index refresh)."""

    def __init__(self, config: KbConfig) -> None:
        self.enabled = config.verifier_enabled
        self.clarify_uncovered = config.verifier_clarify_uncovered
        self.path = settings.resolve_path(config.contrast_groups_file)
        self._mtime = -1.0
        self.verifier: Verifier | None = None
        if self.enabled:
            self.verifier = Verifier.load(self.path, self.clarify_uncovered)  # broken at start-up: fail loudly
            self._mtime = self.path.stat().st_mtime

    def reload_if_changed(self) -> None:
        if not self.enabled:
            return
        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            log.exception("对照组文件不可读，继续使用旧的对照组")
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime  # a broken save is reported once, not at every poll
        try:
            self.verifier = Verifier.load(self.path, self.clarify_uncovered)
            log.info("核对器对照组已重新加载：%s", self.path)
        except (OSError, ContrastFileError):  # a half-saved edit must not stop the service; keep the old groups
            log.exception("对照组文件无法加载，继续使用旧的对照组")


def load_gate(config: KbConfig, embedder: Embedder) -> Gate | None:
    """The answer gate, when enabled; a missing or broken file, or one fitted for another embedder, fails at
    start-up, not at the first question."""
    if not config.answer_gate_enabled:
        return None
    if not config.verifier_enabled:
        log.warning("答复把关模型需要核对器（verifier_enabled），已停用")
        return None
    gate = Gate.load(settings.resolve_path(config.answer_gate_file))
    gate.check_embedder(embedder.name, embedder.dim)
    return gate


def open_store(config: KbConfig) -> Store:
    return Store(config.resolved_db_url, config.db_schema)


class SearchService:
    def __init__(self, config: KbConfig | None = None, store: Store | None = None,
                 embedder: Embedder | None = None, cache: VectorCache | None = None) -> None:
        self.config = config or KbConfig.load()
        self.store = store or open_store(self.config)
        self.embedder = embedder or load_embedder(self.config)
        self.thresholds = calibration.Thresholds.from_config(self.config)
        shared = cache is not None and cache.embedder is self.embedder
        self._cache = cache if shared else VectorCache(self.embedder, self.store)
        self._anchors = load_anchors(self.config)
        self._verifier_file = VerifierFile(self.config)
        self.gate = load_gate(self.config, self.embedder)
        self._index: Index | None = None
        self._build_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the live index ---------------------------------------------------------------------

    @property
    def index(self) -> Index:
        """The current index (built on first use)."""
        index = self._index
        if index is None:
            index = self.refresh()
        return index

    def refresh(self, force: bool = False) -> Index:
        """Rebuild if the store's revision (or the date, for validity windows) changed; swap atomically."""
        with self._build_lock:
            self._verifier_file.reload_if_changed()
            revision = self.store.revision()
            current = self._index
            if not force and current and current.revision == revision and current.built_on == dt.date.today():
                return current
            index = Index.build(self.store.list(status="published"), self._cache, self._anchors, self.config,
                                revision)
            self._index = index  # a single reference assignment: readers see old or new, never partial
            log.info("知识库索引已更新：revision %s，%s 条，用时 %.2f 秒", revision, len(index), index.build_seconds)
            return index

    def changed(self) -> None:
        """Called after a write in this process: rebuild now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        """Start the background refresher (idempotent); it is a daemon and ends with the process."""
        if self._thread and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="kb-index-refresher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout=10)
            self._thread = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # a database hiccup must not kill the refresher; the old index keeps serving
                log.exception("知识库索引刷新失败，继续使用旧索引")
            self._wake.wait(self.config.poll_interval_s)
            self._wake.clear()

    def wait_for_revision(self, revision: int, timeout_s: float) -> bool:
        """Tests and the CLI: block until the live index has caught up with ``revision``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            index = self._index
            if index is not None and index.revision >= revision:
                return True
            time.sleep(0.05)
        return False

    @property
    def verifier(self) -> Verifier | None:
        return self._verifier_file.verifier

    # --- searching --------------------------------------------------------------------------

    def check_query(self, query: Any, top: Any) -> tuple[str, int]:
        if not isinstance(query, str) or not query.strip():
            raise QueryError(400, "empty_query", "请输入要查询的问题", "query")
        if len(query) > self.config.max_query_chars:
            raise QueryError(413, "query_too_long",
                             f"问题过长（{len(query)} 字，上限 {self.config.max_query_chars} 字）", "query")
        if not has_words(query):
            raise QueryError(400, "no_words", "问题里没有文字（只有标点或表情），请用文字描述", "query")
        if top in (None, ""):
            top = self.config.default_top
        try:
            top = int(top)
        except (TypeError, ValueError):
            raise QueryError(400, "invalid_top", "top 须为整数", "top") from None
        if not 1 <= top <= self.config.max_top:
            raise QueryError(400, "invalid_top", f"top 须在 1 到 {self.config.max_top} 之间", "top")
        return query.strip(), top

    def search(self, query: Any, top: Any = None, log_unanswered: bool = True) -> SearchResult:
        """Rank, decide the outcome, and log the query when the FAQ could not answer it."""
        query, top = self.check_query(query, top)
        index = self.index
        vector = self.embedder.embed([query])[0]
        reviewed = max(top, self.config.clarify_max)
        hits = index.search(query, vector, max(reviewed, 2))
        features = calibration.Features.of(hits)
        verifier = self.verifier
        question = verifier.analyse(query) if verifier else query  # analysed once, for the verifier and the gate
        verdicts = outcome.review(verifier, question, hits.candidates, reviewed)
        confidence = outcome.confidence(self.gate, verifier, question, hits, features)
        decision = outcome.decide(features, hits.candidates, verdicts, self.thresholds, top, self.config.clarify_max,
                                  confidence)
        results = [
            {"id": c.entry.id, "question": c.entry.question, "answer": c.entry.answer,
             "category": c.entry.category, "source": c.entry.source, "score": round(c.fused, 4)}
            for c in decision.shown
        ]
        if log_unanswered and decision.outcome != calibration.ANSWER:
            best = hits.candidates[0] if hits.candidates else None
            try:
                self.store.log_unanswered(mask_pii(query), decision.outcome, best.entry.id if best else None,
                                          round(best.fused, 4) if best else None, self.embedder.name,
                                          vector.astype("float32").tobytes(), decision.reason)
            except SQLAlchemyError:  # the resident still gets the answer from the in-memory index
                log.warning("未解答问题记录失败（数据库不可用？）", exc_info=True)
        return SearchResult(decision.outcome, results, features, index.revision,
                            decision.explain(hits.candidates[:len(verdicts)]))
