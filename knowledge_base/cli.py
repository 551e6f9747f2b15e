"""``python -m knowledge_base``: import, export, reindex, stats, search and seed on any store.

Every command takes ``--db URL`` (default: ``[knowledge_base] db_url``) so a curator can work on a
staging copy. Bad input prints what is wrong (row and field) and exits with status 2; nothing is
written unless the whole file is valid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from knowledge_base import curation, files
from knowledge_base.config import KbConfig
from knowledge_base.entry import EntryError
from knowledge_base.search import QueryError, SearchService
from knowledge_base.store import Store

EXIT_BAD_INPUT = 2


def _config(args: argparse.Namespace) -> KbConfig:
    return KbConfig.load(db_url=args.db, db_schema=args.schema)


def _store(config: KbConfig) -> Store:
    return Store(config.resolved_db_url, config.db_schema)


def _import(args: argparse.Namespace) -> int:
    config = _config(args)
    path = Path(args.path)
    if not path.is_file():
        raise files.FileError(f"找不到文件 {path}")
    fmt = files.format_of(path.name, args.format)
    entries, encoding = files.read_entries(path.read_bytes(), fmt, args.status or config.seed_status)
    report = curation.import_entries(_store(config), entries, args.author)
    note = "（检测到 GBK 编码）" if encoding == "gbk" else ""
    print(f"已导入 {path}{note}：新增 {report.created} 条，更新 {report.updated} 条，未变 {report.unchanged} 条")
    return 0


def _seed(args: argparse.Namespace) -> int:
    """Import the sample FAQ into an empty store only: `make run` seeds on every start, and a
    curator's edits must never be overwritten by the sample content (use --force to re-import)."""
    config = _config(args)
    existing = _store(config).stats()["entries"]
    if existing and not args.force:
        print(f"知识库已有 {existing} 条，跳过示例导入（--force 可强制重新导入）")
        return 0
    args.path, args.format, args.status = str(files_path(config.seed_file)), None, None
    return _import(args)


def files_path(value: str) -> Path:
    from common import settings

    return settings.resolve_path(value)


def _export(args: argparse.Namespace) -> int:
    config = _config(args)
    path = Path(args.path)
    fmt = files.format_of(path.name, args.format)
    entries = _store(config).list(status=args.status)
    path.write_bytes(files.dump(entries, fmt))
    print(f"已导出 {len(entries)} 条到 {path}")
    return 0


def _stats(args: argparse.Namespace) -> int:
    stats = _store(_config(args)).stats()
    print(json.dumps(stats, ensure_ascii=False, indent=2))
    return 0


def _reindex(args: argparse.Namespace) -> int:
    """Build the index here (proves every entry embeds) and bump the revision so live processes rebuild."""
    config = _config(args)
    store = _store(config)
    started = time.perf_counter()
    index = SearchService(config, store).refresh(force=True)
    revision = store.bump_revision()
    print(f"索引重建完成：{len(index)} 条已发布条目，用时 {time.perf_counter() - started:.2f} 秒；"
          f"revision → {revision}，运行中的服务将在数秒内刷新")
    return 0


def _search(args: argparse.Namespace) -> int:
    config = _config(args)
    service = SearchService(config, _store(config))
    result = service.search(args.query, args.top, log_unanswered=args.log)
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        return 0
    labels = {"answer": "直接回答", "clarify": "请用户确认", "none": "没有答案"}
    print(f"结果：{labels[result.outcome]}（{result.outcome}）")
    if result.explain.get("reason"):
        print(f"原因：{result.explain['reason']}")
    for rank, hit in enumerate(result.results, start=1):
        print(f"{rank}. [{hit['score']:.3f}] {hit['id']} {hit['question']}（{hit['category']}）")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="数据库 URL（默认取 settings.toml 的 [knowledge_base] db_url）")
    common.add_argument("--schema", help="PostgreSQL schema（默认取 db_schema）")
    parser = argparse.ArgumentParser(prog="python -m knowledge_base", description="政务知识库命令行工具")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("import", parents=[common], help="导入 JSON / YAML / CSV 文件（整份校验，出错则不写入）")
    p.add_argument("path")
    p.add_argument("--format", choices=files.FORMATS)
    p.add_argument("--status", choices=("draft", "published"), help="文件未写 status 时的状态")
    p.add_argument("--author", default=os.environ.get("USER", "cli"))
    p.set_defaults(run=_import)

    p = sub.add_parser("seed", parents=[common], help="导入示例 FAQ（settings 中的 seed_file）")
    p.add_argument("--author", default="seed")
    p.add_argument("--force", action="store_true", help="即使知识库非空也重新导入示例")
    p.set_defaults(run=_seed)

    p = sub.add_parser("export", parents=[common], help="导出为 JSON / YAML / CSV（可再导入）")
    p.add_argument("path")
    p.add_argument("--format", choices=files.FORMATS)
    p.add_argument("--status", choices=("draft", "published", "archived"))
    p.set_defaults(run=_export)

    p = sub.add_parser("reindex", parents=[common], help="重建索引并通知运行中的服务")
    p.set_defaults(run=_reindex)

    p = sub.add_parser("stats", parents=[common], help="条目与日志统计")
    p.set_defaults(run=_stats)

    p = sub.add_parser("search", parents=[common], help="检索一个问题")
    p.add_argument("query")
    p.add_argument("--top", type=int, default=None)
    p.add_argument("--json", action="store_true", help="输出 JSON：{outcome, results:[...]}")
    p.add_argument("--log", action="store_true", help="把无答案/需确认的问题记入未解答日志")
    p.set_defaults(run=_search)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except files.FileError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (EntryError, QueryError) as exc:
        message: Any = exc if isinstance(exc, EntryError) else f"{exc.message}（{exc.field}）"
        print(f"错误：{message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as exc:  # e.g. the database is unreachable: one clear line, not a traceback
        print(f"错误：{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
