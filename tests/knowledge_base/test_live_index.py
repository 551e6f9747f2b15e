"""The live index: edits reach searches within seconds, without restarts, never half-built."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from knowledge_base import curation
from knowledge_base.search import SearchService
from knowledge_base.store import Store
from tests.knowledge_base.conftest import PG_URL, ROOT, pg_config, seed_entries

QUERY = "社保卡丢了怎么补办"


def answer_of(service: SearchService, query: str = QUERY) -> str:
    return service.search(query, log_unanswered=False).results[0]["answer"]


def wait_until(predicate, timeout_s: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_an_edit_reaches_this_process_at_once_and_another_by_polling(seeded: SearchService) -> None:
    other = SearchService(seeded.config, Store(seeded.store.url), seeded.embedder, seeded._cache)
    other.refresh()
    seeded.start()
    other.start()
    try:
        curation.update(seeded.store, "sb-001", {"answer": "新答案：请到政务服务中心补办。"}, "t")
        seeded.changed()
        started = time.monotonic()
        assert wait_until(lambda: answer_of(seeded).startswith("新答案"), 5)
        assert wait_until(lambda: answer_of(other).startswith("新答案"), 10)
        assert time.monotonic() - started < 10
        curation.set_status(seeded.store, "sb-001", "archived", "t")
        assert wait_until(lambda: answer_of(other) and "sb-001" not in {e.id for e in other.index.entries}, 10)
    finally:
        other.stop()


def test_readers_never_see_a_half_built_index(seeded: SearchService) -> None:
    """Searches run non-stop while the index is rebuilt repeatedly; each sees one whole version."""
    answers = {f"第{i}版答案。" for i in range(4)}
    curation.update(seeded.store, "sb-001", {"answer": "第0版答案。"}, "t")
    seeded.refresh()
    errors: list[BaseException] = []
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                index = seeded.index
                hit = seeded.search(QUERY, log_unanswered=False)
                seen.append(hit.results[0]["answer"])
                assert len(index.entries) == len(index._dense_by_entry)
            except BaseException as exc:
                errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(1, 4):
        curation.update(seeded.store, "sb-001", {"answer": f"第{i}版答案。"}, "t")
        seeded.refresh()
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert seen and set(seen) <= answers
    assert answer_of(seeded) == "第3版答案。"


@pytest.mark.postgres
def test_two_processes_share_one_postgres_store(seeded: SearchService, pg_schema: str) -> None:
    """Gateway A edits, gateway B (its own store and index) notices; a CLI process's import is noticed too."""
    config = pg_config(seeded.config, pg_schema)
    store_a, store_b = Store(config.db_url, pg_schema), Store(config.db_url, pg_schema)
    curation.import_entries(store_a, seed_entries()[:40], "t")
    a = SearchService(config, store_a, seeded.embedder, seeded._cache)
    b = SearchService(config, store_b, seeded.embedder, seeded._cache)
    a.refresh()
    b.refresh()
    b.start()
    try:
        assert answer_of(b).startswith("先拨打")
        curation.update(store_a, "sb-001", {"answer": "PG 新答案。"}, "alice")
        assert wait_until(lambda: answer_of(b) == "PG 新答案。", 10)

        faq = ROOT / "tests" / "knowledge_base" / "data" / "extra.yaml"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "GOVBOT__KNOWLEDGE_BASE__DB_SCHEMA": pg_schema}
        run = subprocess.run([sys.executable, "-m", "knowledge_base", "import", str(faq), "--db", PG_URL],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert wait_until(lambda: "x-drone" in {e.id for e in b.index.entries}, 10)
        assert b.search("无人机飞行要去哪里报备", log_unanswered=False).results[0]["id"] == "x-drone"
        assert store_b.history("sb-001")[0]["author"] == "alice"
    finally:
        b.stop()
        store_a.dispose()
        store_b.dispose()


def test_a_second_process_loads_vectors_from_the_store_instead_of_the_model(config, store, embedder) -> None:
    curation.import_entries(store, seed_entries()[:10], "t")
    first = SearchService(config, store, embedder)
    first.refresh()
    assert first._cache.model_calls == 1
    second = SearchService(config, Store(store.url), embedder)
    second.refresh()
    assert second._cache.model_calls == 0
    assert second.search(QUERY, log_unanswered=False).results[0]["id"] == "sb-001"
    curation.update(store, "sb-001", {"alternates": ["补办社会保障卡的流程"]}, "t")
    second.refresh()
    assert second._cache.model_calls == 1  # only the new phrasing went through the model
