"""What an FAQ entry is, and the one validation every way in (import, API, CLI) goes through.

Why one validator: a row from a GBK CSV and a JSON body from the console must be refused for the
same reasons with the same words, naming the field, so curators learn one set of rules.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("draft", "published", "archived")
CONTENT_FIELDS = ("question", "alternates", "also_answers", "answer", "category", "keywords", "source", "valid_from",
                  "valid_to")
ALLOWED_FIELDS = ("id", *CONTENT_FIELDS, "status")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
LIMITS = {"question": 200, "answer": 5000, "category": 50, "source": 300, "alternate": 200, "keyword": 50}
MAX_ALSO_ANSWERS = 200  # paraphrases curators adopted from the unanswered list, per entry
LIST_SEPARATORS = re.compile(r"[|｜\n]")


class EntryError(ValueError):
    """A bad field; ``row`` is set when the entry came from a file (1-based data row)."""

    def __init__(self, field_name: str, message: str, row: int | None = None) -> None:
        super().__init__(message)
        self.field, self.message, self.row = field_name, message, row

    def __str__(self) -> str:
        where = f"第 {self.row} 行，" if self.row is not None else ""
        return f"{where}字段 {self.field}：{self.message}"


@dataclass
class Entry:
    id: str
    question: str
    answer: str
    category: str
    alternates: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    # Residents' wordings curators adopted ("also answers"): indexed like alternates and counted by the
    # verifier as the entry's own wording, kept apart so the curated alternates stay short and clean.
    also_answers: list[str] = field(default_factory=list)
    source: str = ""
    status: str = "draft"
    valid_from: str | None = None
    valid_to: str | None = None
    version: int = 0
    updated_by: str = ""
    updated_at: str = ""

    def content(self) -> dict[str, Any]:
        """The fields a version snapshot keeps (everything a curator can change)."""
        data = asdict(self)
        return {k: data[k] for k in (*CONTENT_FIELDS, "status")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def is_served(self, today: dt.date) -> bool:
        """Only published entries inside their validity window reach residents."""
        if self.status != "published":
            return False
        if self.valid_from and dt.date.fromisoformat(self.valid_from) > today:
            return False
        return not (self.valid_to and dt.date.fromisoformat(self.valid_to) < today)

    def texts(self) -> list[str]:
        """What the index embeds for this entry: the question, every alternate and every "also answers" wording."""
        seen: list[str] = []
        for text in [self.question, *self.alternates, *self.also_answers]:
            if text and text not in seen:
                seen.append(text)
        return seen


def _text(data: dict[str, Any], name: str, required: bool, row: int | None) -> str:
    value = data.get(name)
    if value is None:
        value = ""
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise EntryError(name, "须为文本", row)
    text = str(value).strip()
    if required and not text:
        raise EntryError(name, "不能为空", row)
    limit = LIMITS.get(name)
    if limit and len(text) > limit:
        raise EntryError(name, f"过长（{len(text)} 字，上限 {limit}）", row)
    return text


def _text_list(data: dict[str, Any], name: str, row: int | None) -> list[str]:
    value = data.get(name)
    if value in (None, ""):
        return []
    if isinstance(value, str):
        items = LIST_SEPARATORS.split(value)
    elif isinstance(value, list):
        items = value
    else:
        raise EntryError(name, "须为文本列表（文件中可用 | 分隔）", row)
    result: list[str] = []
    limit = LIMITS["keyword" if name == "keywords" else "alternate"]
    for item in items:
        if not isinstance(item, (str, int, float)) or isinstance(item, bool):
            raise EntryError(name, "列表中只能是文本", row)
        text = str(item).strip()
        if len(text) > limit:
            raise EntryError(name, f"某一项过长（上限 {limit} 字）", row)
        if text and text not in result:
            result.append(text)
    return result


def _date(data: dict[str, Any], name: str, row: int | None) -> str | None:
    value = data.get(name)
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise EntryError(name, "日期格式须为 YYYY-MM-DD", row) from None


def validate(data: Any, row: int | None = None, default_status: str = "draft", require_id: bool = True) -> Entry:
    """A checked Entry from loose input, or EntryError naming the first bad field."""
    if not isinstance(data, dict):
        raise EntryError("(行)", "每条记录须为对象（键值对）", row)
    unknown = sorted(str(k) for k in data if k not in ALLOWED_FIELDS)
    if unknown:
        raise EntryError(unknown[0], f"未知字段（允许的字段：{', '.join(ALLOWED_FIELDS)}）", row)
    entry_id = _text(data, "id", require_id, row)
    if entry_id and not ID_PATTERN.match(entry_id):
        raise EntryError("id", "只能用字母、数字、点、下划线和连字符，且不超过 64 位", row)
    status = _text(data, "status", False, row) or default_status
    if status not in STATUSES:
        raise EntryError("status", f"须为 {' / '.join(STATUSES)} 之一", row)
    entry = Entry(
        id=entry_id,
        question=_text(data, "question", True, row),
        answer=_text(data, "answer", True, row),
        category=_text(data, "category", True, row),
        alternates=_text_list(data, "alternates", row),
        keywords=_text_list(data, "keywords", row),
        also_answers=_text_list(data, "also_answers", row),
        source=_text(data, "source", False, row),
        status=status,
        valid_from=_date(data, "valid_from", row),
        valid_to=_date(data, "valid_to", row),
    )
    if entry.valid_from and entry.valid_to and entry.valid_from > entry.valid_to:
        raise EntryError("valid_to", "结束日期早于开始日期", row)
    entry.alternates = [a for a in entry.alternates if a != entry.question]
    entry.also_answers = [a for a in entry.also_answers if a != entry.question and a not in entry.alternates]
    if len(entry.also_answers) > MAX_ALSO_ANSWERS:
        raise EntryError("also_answers", f"最多 {MAX_ALSO_ANSWERS} 条", row)
    return entry
