"""``python -m knowledge_base`` as a curator runs it: real processes, exit codes, nothing half-written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from knowledge_base.store import Store
from tests.knowledge_base.conftest import ROOT

EXTRA = ROOT / "tests" / "knowledge_base" / "data" / "extra.yaml"


def cli(*args: str, timeout: int = 180) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "knowledge_base", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_bad_file_exits_non_zero_names_row_and_field_and_writes_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/other.sqlite3"
    bad = tmp_path / "bad.csv"
    bad.write_bytes("id,question,answer,category\na-1,问题一,答案一,社保\na-2,问题二,,社保\na-1,问题三,答案,社保\n"
                    .encode("gbk"))
    run = cli("import", str(bad), "--db", db)
    assert run.returncode == 2
    assert "第 2 行" in run.stderr and "answer" in run.stderr
    assert "第 3 行" in run.stderr and "重复" in run.stderr
    assert Store(db).list() == []

    run = cli("import", str(tmp_path / "missing.yaml"), "--db", db)
    assert run.returncode == 2 and "找不到文件" in run.stderr


def test_import_export_stats_on_another_store(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/other.sqlite3"
    run = cli("import", str(EXTRA), "--db", db)
    assert run.returncode == 0, run.stderr
    assert "新增 1 条" in run.stdout
    out = tmp_path / "out.csv"
    assert cli("export", str(out), "--db", db).returncode == 0
    assert "x-drone" in out.read_text(encoding="utf-8")
    again = cli("import", str(out), "--db", db)
    assert again.returncode == 0 and "未变 1 条" in again.stdout
    stats = json.loads(cli("stats", "--db", db).stdout)
    assert stats["entries"] == 1 and stats["by_status"] == {"published": 1}
    # the default store (this test's data dir) was not touched
    assert not (tmp_path / "kb.sqlite3").exists() or Store(f"sqlite:///{tmp_path}/kb.sqlite3").list() == []


def test_search_prints_json_with_outcome(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/other.sqlite3"
    assert cli("import", str(EXTRA), "--db", db).returncode == 0
    run = cli("search", "放无人机要不要报备", "--top", "1", "--json", "--db", db)
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["outcome"] in {"answer", "clarify"}
    assert data["results"][0]["id"] == "x-drone" and set(data["results"][0]) >= {"id", "question", "answer",
                                                                                    "category", "score"}
    bad = cli("search", "   ", "--db", db)
    assert bad.returncode == 2 and "请输入" in bad.stderr


def test_seed_reindex_then_search_reuses_stored_vectors(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/seeded.sqlite3"
    seed = cli("seed", "--db", db)
    assert seed.returncode == 0 and "新增 151 条" in seed.stdout, seed.stderr
    assert "跳过示例导入" in cli("seed", "--db", db).stdout  # a non-empty store keeps its curated content
    assert "未变 151 条" in cli("seed", "--db", db, "--force").stdout  # forced: same content, no new versions
    reindex = cli("reindex", "--db", db)
    assert reindex.returncode == 0 and "151 条已发布条目" in reindex.stdout, reindex.stderr
    assert Store(db).revision() == 2
    run = cli("search", "社宝卡掉了咋整", "--json", "--db", db)
    data = json.loads(run.stdout)
    assert data["outcome"] == "answer" and data["results"][0]["id"] == "sb-001"
