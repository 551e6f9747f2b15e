"""The follow-up list as a CSV for door-to-door visits (人工补漏): one format for the CLI and the API.

Why here: staff open it in Excel, so the columns, their Chinese headers, the category labels and the cell
escaping must be the same whichever way the list was fetched.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from campaigns.phones import display

FOLLOW_UP_CSV_COLUMNS = (("slot_id", "编号"), ("day", "日期"), ("time", "时段"), ("name", "姓名"), ("phone", "电话"),
                         ("address", "地址"), ("community", "社区"), ("grid", "网格"), ("category", "类别"),
                         ("reason", "原因"), ("attempts_used", "拨打次数"), ("notes", "备注"))
CATEGORY_LABELS = {"abnormal": "异常", "unreached": "未接通"}
CSV_BOM = "\ufeff"  # Excel reads a CSV as the system's code page (GBK) unless it starts with the UTF-8 BOM
FORMULA_START = ("=", "+", "-", "@")  # a cell Excel would run as a formula (OWASP "CSV injection")


def for_people(item: dict[str, Any]) -> dict[str, Any]:
    """A follow-up as staff read it: the number as dialled locally, the category in Chinese."""
    return {**item, "phone": display(item["phone"]),
            "category": CATEGORY_LABELS.get(item["category"], item["category"])}


def followups_csv(items: list[dict[str, Any]], bom: bool = True) -> str:
    """The CSV text (with the BOM Excel needs when it is a downloaded file)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([label for _, label in FOLLOW_UP_CSV_COLUMNS])
    for item in items:
        row = for_people(item)
        writer.writerow([safe_cell(row[key]) for key, _ in FOLLOW_UP_CSV_COLUMNS])
    return (CSV_BOM if bom else "") + out.getvalue()


def safe_cell(value: Any) -> Any:
    """A text cell Excel would evaluate (``=HYPERLINK(…)`` typed as a name) is kept as text with a leading '."""
    return f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_START) else value
