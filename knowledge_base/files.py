"""Reading and writing FAQ files (JSON, YAML, CSV) with every row checked before anything is written.

Why so strict: curators often prepare entries in Excel, which saves CSV in GBK; a half-imported
file or silently garbled answers would reach residents. So the encoding is detected, and the whole
file is validated first.

Why charset-normalizer detects it: our own rule ("real Chinese is mostly inside GB2312") refused
GBK files that are real Chinese too — Traditional characters (a FAQ for 港澳台 residents) or rare
name characters (堃, 喆, 旻) — while the library judges the decoded text itself. It chooses only
between the encodings curators' tools write (UTF-8 with or without BOM, GB18030, the superset of
Excel's GBK), so a mixed or binary file is refused with a clear message instead of guessed at.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import yaml
from charset_normalizer import from_bytes

from knowledge_base.entry import ALLOWED_FIELDS, Entry, EntryError, validate

FORMATS = ("json", "yaml", "csv")
CSV_FIELDS = ("id", "question", "answer", "category", "keywords", "alternates", "source", "status",
              "valid_from", "valid_to", "also_answers")  # also_answers last: older files simply lack it
FILE_KEYS = ("entries", "sample", "notice")  # a YAML/JSON object file may carry these top-level keys
MAX_ERRORS = 20
ENCODINGS = ("utf_8", "gb18030")  # the only candidates (charset-normalizer's codec names)
ENCODING_LABELS = {"utf_8": "utf-8", "gb18030": "gbk"}  # what the API, CLI and console have always reported


class FileError(ValueError):
    """The file as a whole is unusable, or some rows are bad (``errors`` lists them all, up to MAX_ERRORS)."""

    def __init__(self, message: str, errors: list[EntryError] | None = None) -> None:
        super().__init__(message)
        self.message, self.errors = message, errors or []

    def __str__(self) -> str:
        lines = [self.message, *(f"  {e}" for e in self.errors)]
        return "\n".join(lines)


def format_of(name: str, explicit: str | None = None) -> str:
    fmt = (explicit or Path(name).suffix.lstrip(".")).lower()
    fmt = {"yml": "yaml", "txt": "csv"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise FileError(f"无法判断文件格式 {name!r}：请使用 .json / .yaml / .csv 扩展名或指定格式")
    return fmt


def decode(data: bytes) -> tuple[str, str]:
    """Text and the encoding it was in ("utf-8" or "gbk"); a clear error for mixed or unknown encodings."""
    match = from_bytes(data, cp_isolation=list(ENCODINGS)).best()
    if match is None:
        raise FileError("无法识别文件编码：既不是 UTF-8 也不是 GBK（可能混合了多种编码）。请在 Excel 中另存为"
                        "“CSV UTF-8（逗号分隔）”后重试")
    return str(match).lstrip("\ufeff"), ENCODING_LABELS.get(match.encoding, match.encoding)


def parse(data: bytes, fmt: str) -> tuple[list[dict[str, Any]], str]:
    """Raw rows (dicts) from file bytes, and the detected encoding."""
    text, encoding = decode(data)
    if not text.strip():
        raise FileError("文件是空的")
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames:
            raise FileError("CSV 缺少表头行（第一行应为字段名，如 id,question,answer,category）")
        names = [n.strip() if n else "" for n in reader.fieldnames]
        unknown = [n for n in names if n not in ALLOWED_FIELDS]
        if unknown:
            raise FileError(f"CSV 表头有未知字段：{', '.join(repr(n) for n in unknown)}"
                            f"（允许：{', '.join(ALLOWED_FIELDS)}）")
        rows = []
        for raw in reader:
            if None in raw:
                raise FileError(f"CSV 第 {reader.line_num - 1} 行的列数多于表头")
            rows.append({k.strip(): v for k, v in raw.items() if k is not None and v not in (None, "")})
        return rows, encoding
    try:
        loaded = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise FileError(f"{fmt.upper()} 格式错误：{exc}") from None
    if isinstance(loaded, dict):
        extra = [k for k in loaded if k not in FILE_KEYS]
        if extra or "entries" not in loaded:
            raise FileError(f"文件顶层应为条目列表，或含 entries 列表的对象（未知键：{', '.join(map(str, extra))}）")
        loaded = loaded["entries"]
    if not isinstance(loaded, list):
        raise FileError("文件顶层应为条目列表")
    return loaded, encoding


def validate_rows(rows: list[Any], default_status: str) -> list[Entry]:
    """Every row checked; duplicate ids inside the file are an error, not a silent overwrite."""
    errors: list[EntryError] = []
    entries: list[Entry] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        try:
            entry = validate(row, row=number, default_status=default_status)
        except EntryError as exc:
            errors.append(exc)
            continue
        if entry.id in first_row:
            errors.append(EntryError("id", f"编号 {entry.id} 与第 {first_row[entry.id]} 行重复", number))
            continue
        first_row[entry.id] = number
        entries.append(entry)
    if not rows:
        raise FileError("文件中没有任何条目")
    if errors:
        raise FileError(f"文件有 {len(errors)} 处错误，未导入任何条目：", errors[:MAX_ERRORS])
    return entries


def read_entries(data: bytes, fmt: str, default_status: str) -> tuple[list[Entry], str]:
    rows, encoding = parse(data, fmt)
    return validate_rows(rows, default_status), encoding


def dump(entries: list[Entry], fmt: str) -> bytes:
    """The same formats ``read_entries`` accepts, so an export re-imports unchanged."""
    rows = []
    for e in entries:
        row: dict[str, Any] = {"id": e.id, **e.content()}
        rows.append({k: row[k] for k in CSV_FIELDS})
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2).encode("utf-8")
    if fmt == "yaml":
        return yaml.safe_dump({"entries": rows}, allow_unicode=True, sort_keys=False).encode("utf-8")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_FIELDS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "|".join(v) if isinstance(v, list) else ("" if v is None else v) for k, v in row.items()})
    return out.getvalue().encode("utf-8")
