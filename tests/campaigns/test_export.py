"""The follow-up CSV staff open in Excel: headers, labels, the BOM, and cells Excel would run as formulas."""

from __future__ import annotations

import csv
import io

from campaigns.export import followups_csv
from tests.campaigns.conftest import NOW


def test_the_follow_up_csv_keeps_formula_like_cells_as_text() -> None:
    item = {"slot_id": 1, "day": NOW.date(), "time": "09:00", "name": "=HYPERLINK(\"http://x\")",
            "phone": "+8613800138000", "address": "@幸福路", "community": "", "grid": "", "category": "unreached",
            "reason": "3 次拨打均未完成", "attempts_used": 3, "notes": ""}
    text = followups_csv([item])
    assert text.startswith("\ufeff")
    header, row = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert header[:5] == ["编号", "日期", "时段", "姓名", "电话"]
    assert row[3] == "'=HYPERLINK(\"http://x\")" and row[5] == "'@幸福路" and row[8] == "未接通" and row[10] == "3"
    assert not followups_csv([item], bom=False).startswith("\ufeff")
