"""Target lists from the CSV and XLSX files community staff export from Excel: read, validate, import.

Why validate the whole file before importing any of it: a list with a wrong column or a hundred bad numbers
is almost always a wrong export, and half of it imported is worse than none. So every row is checked first
and each problem reported with its row number (as Excel shows it) and column; nothing is imported while there
are errors, unless the operator asks for the valid rows only (``valid_only``).

Files as they come: CSV in UTF-8 (with or without BOM) or in GBK/GB18030 (what Excel writes on a Chinese
Windows; the encoding is detected with charset-normalizer), comma-, semicolon- or tab-separated; XLSX read
with openpyxl (numbers typed as numbers, 13800138000.0, are read as their digits). Headers in English or
Chinese (姓名/电话/手机/地址/社区/网格/备注 and common variants).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import charset_normalizer

from campaigns import kinds
from campaigns.config import CampaignsConfig
from campaigns.phones import PhoneError, normalise

if TYPE_CHECKING:
    from campaigns.store import Store

FIELDS = ("name", "phone", "address", "community", "grid", "notes")
HEADER_ALIASES = {
    "name": ("name", "姓名", "名字", "居民姓名", "联系人"),
    "phone": ("phone", "mobile", "tel", "电话", "手机", "手机号", "手机号码", "联系电话", "电话号码", "号码"),
    "address": ("address", "地址", "住址", "居住地址", "家庭住址", "现住址"),
    "community": ("community", "社区", "小区", "所属社区"),
    "grid": ("grid", "网格", "网格号", "所属网格", "网格员"),
    "notes": ("notes", "note", "备注", "说明"),
}
FIELD_LABELS = {"name": "姓名", "phone": "电话", "address": "地址", "community": "社区", "grid": "网格",
                "notes": "备注"}
HEADER_NOISE = re.compile(r"[\s*＊:：]|[（(][^）)]*[）)]")  # spaces, required-marks, "(选填)"
XLSX_SUFFIXES = (".xlsx", ".xlsm")
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
CSV_DELIMITERS = ",;\t"
SNIFF_CHARS = 4096


class TargetFileError(ValueError):
    """The file as a whole cannot be read (format, encoding, size, header): nothing was imported."""


@dataclass(frozen=True)
class Target:
    row: int
    name: str
    phone: str  # E.164
    address: str = ""
    community: str = ""
    grid: str = ""
    notes: str = ""


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"第 {self.row} 行 {FIELD_LABELS.get(self.field, self.field)}：{self.message}"


@dataclass
class ImportReport:
    """What validation found: the valid targets, the per-row errors (at most ``max_import_errors`` kept)."""

    rows: int = 0
    valid: list[Target] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    imported: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "valid": len(self.valid), "imported": self.imported,
                "error_count": self.error_count, "ignored_columns": self.ignored_columns,
                "errors": [{"row": e.row, "field": e.field, "message": e.message} for e in self.errors]}


class ImportRefused(ValueError):
    """The file has invalid rows and the operator did not ask for the valid ones only."""

    def __init__(self, report: ImportReport) -> None:
        super().__init__(f"名单有 {report.error_count} 处错误，未导入任何记录（可用 --valid-only 只导入有效的 "
                         f"{len(report.valid)} 行）")
        self.report = report


def read_table(data: bytes, filename: str, config: CampaignsConfig) -> list[tuple[int, list[str]]]:
    """The file's non-empty rows as ``(row number, cells)``, the header first; TargetFileError when unreadable."""
    if len(data) > config.max_import_bytes:
        raise TargetFileError(f"文件过大（上限 {config.max_import_bytes // 1_000_000} MB）")
    suffix = Path(filename).suffix.lower()
    if suffix in XLSX_SUFFIXES or (suffix not in CSV_SUFFIXES and zipfile.is_zipfile(io.BytesIO(data))):
        rows = _xlsx_rows(data)
    elif suffix in CSV_SUFFIXES or not suffix:
        rows = _csv_rows(data)
    else:
        raise TargetFileError(f"只支持 CSV 或 XLSX 文件：{filename}")
    found = [(number, cells) for number, cells in rows if any(cells)]
    if len(found) - 1 > config.max_import_rows:
        raise TargetFileError(f"名单超过 {config.max_import_rows} 行，请分批导入")
    return found


def validate(rows: list[tuple[int, list[str]]], kind: str, config: CampaignsConfig,
             existing: Iterable[str] = ()) -> ImportReport:
    """Every row checked (see the module docstring); ``existing`` are numbers already in the campaign."""
    if not rows:
        raise TargetFileError("文件是空的：第一行须为表头（姓名、电话、地址 …）")
    columns, ignored = _columns(rows[0][1])
    campaign_kind = kinds.get(kind)
    required = campaign_kind.required_target_fields if campaign_kind else ("name", "phone")
    missing = [FIELD_LABELS[name] for name in required if name not in columns]
    if missing:
        raise TargetFileError(f"表头缺少列：{'、'.join(missing)}"
                              "（第一行须为表头，如 姓名、电话、地址、社区、网格、备注）")
    if len(rows) == 1:
        raise TargetFileError("名单为空：表头下面没有任何记录")
    report = ImportReport(rows=len(rows) - 1, ignored_columns=ignored)
    seen = {phone: "本活动已有名单" for phone in existing}
    limits = {"name": config.max_name_chars, "notes": config.max_notes_chars}
    for number, cells in rows[1:]:
        values = {name: _cell(cells, index) for name, index in columns.items()}
        problems = [RowError(number, name, "不能为空") for name in required if not values.get(name)]
        for name, value in values.items():
            limit = limits.get(name, config.max_field_chars)
            if name != "phone" and len(value) > limit:
                problems.append(RowError(number, name, f"不能超过 {limit} 个字"))
        phone = ""
        if values.get("phone"):
            try:
                phone = normalise(values["phone"], config.phone_region)
            except PhoneError as exc:
                problems.append(RowError(number, "phone", str(exc)))
        if phone and phone in seen:
            where = seen[phone] if isinstance(seen[phone], str) else f"第 {seen[phone]} 行"
            problems.append(RowError(number, "phone", f"号码重复（与{where}相同）"))
        elif phone:
            seen[phone] = number
        if problems:
            report.error_count += len(problems)
            report.errors += problems[:max(0, config.max_import_errors - len(report.errors))]
            continue
        report.valid.append(Target(row=number, phone=phone, **{k: v for k, v in values.items() if k != "phone"}))
    return report


def import_file(store: Store, campaign: int | str, path: Path, now: datetime, valid_only: bool = False,
                ) -> ImportReport:
    """Read, validate and (when clean, or ``valid_only``) add a file's targets to ``campaign``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TargetFileError(f"无法读取文件 {path}：{exc.strerror}") from None
    return import_data(store, campaign, data, path.name, now, valid_only)


def import_data(store: Store, campaign: int | str, data: bytes, filename: str, now: datetime,
                valid_only: bool = False) -> ImportReport:
    """The same for a file's bytes (an HTTP upload); ``filename`` gives its type when it has one."""
    row = store.get_campaign(campaign)
    report = validate(read_table(data, filename, store.config), row["kind"], store.config,
                      existing=store.existing_phones(row["id"]))
    if report.error_count and not valid_only:
        raise ImportRefused(report)
    report.imported = store.add_targets(row["id"], report.valid, now) if report.valid else 0
    return report


def _columns(header: list[str]) -> tuple[dict[str, int], list[str]]:
    """Which column holds which field, and the header cells that name none (reported, not fatal)."""
    aliases = {alias.lower(): name for name, names in HEADER_ALIASES.items() for alias in names}
    columns: dict[str, int] = {}
    ignored = []
    for index, cell in enumerate(header):
        name = aliases.get(HEADER_NOISE.sub("", cell).lower())
        if name is None or name in columns:
            if cell:
                ignored.append(cell)
            continue
        columns[name] = index
    return columns, ignored


def _cell(cells: list[str], index: int) -> str:
    return cells[index].strip() if index < len(cells) else ""


def _decode(data: bytes) -> str:
    """UTF-8 when it is valid UTF-8 (the BOM dropped), else charset-normalizer's best guess (GBK exports)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise TargetFileError("无法识别文件编码，请在 Excel 中另存为“CSV UTF-8（逗号分隔）”")
    return str(best)


def _csv_rows(data: bytes) -> list[tuple[int, list[str]]]:
    text = _decode(data)
    try:
        dialect: Any = csv.Sniffer().sniff(text[:SNIFF_CHARS], delimiters=CSV_DELIMITERS)
    except csv.Error:
        dialect = csv.excel
    try:
        return [(number, [cell.strip() for cell in cells])
                for number, cells in enumerate(csv.reader(io.StringIO(text), dialect), start=1)]
    except csv.Error as exc:
        raise TargetFileError(f"CSV 格式错误：{exc}") from None


def _xlsx_rows(data: bytes) -> list[tuple[int, list[str]]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError and its own errors for damaged files
        raise TargetFileError(f"无法读取 XLSX 文件（{type(exc).__name__}），请确认是 Excel 工作簿") from None
    try:
        sheet = book.worksheets[0]
        return [(number, [_xlsx_text(value) for value in values])
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1)]
    finally:
        book.close()


def _xlsx_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a phone typed as a number
    return str(value).strip()
