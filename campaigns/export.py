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


# The daily report (campaigns/store/report.py): one row per grid, a subtotal per community, the total last.
REPORT_CSV_COLUMNS = (("slots", "时段数"), ("residents", "人数"), ("reached", "已接通"), ("normal", "正常"),
                      ("abnormal", "异常"), ("unreachable", "未接通"), ("opted_out", "免打扰"),
                      ("not_called", "未拨打"), ("wrong_person", "非本人"), ("refused", "拒答"),
                      ("cancelled", "已取消"), ("in_progress", "进行中"))
UNNAMED, SUBTOTAL, TOTAL = "未填写", "小计", "合计"


def report_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The daily report as rows (日期, 社区, 网格, then the counts), the header first: the CSV and the CLI's table."""
    rows: list[list[Any]] = [["日期", "社区", "网格", *(label for _, label in REPORT_CSV_COLUMNS)]]

    def line(community: str, grid: str, counts: dict[str, Any]) -> None:
        rows.append([report["day"], community, grid, *(counts[key] for key, _ in REPORT_CSV_COLUMNS)])

    for community in report["communities"]:
        name = community["community"] or UNNAMED
        for grid in community["grids"]:
            line(name, grid["grid"] or UNNAMED, grid)
        line(name, SUBTOTAL, community)
    line(TOTAL, "", report["totals"])
    return rows


def report_csv(report: dict[str, Any], bom: bool = True) -> str:
    """The daily report as a CSV, with the BOM Excel needs for a downloaded file."""
    out = io.StringIO()
    csv.writer(out).writerows([[safe_cell(cell) for cell in row] for row in report_rows(report)])
    return (CSV_BOM if bom else "") + out.getvalue()
