"""Target lists as staff export them: CSV in UTF-8 and GBK, XLSX, Chinese headers, bad rows, valid-only."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from campaigns.config import CampaignsConfig
from campaigns.store import Store
from campaigns.targets import ImportRefused, TargetFileError, import_file, read_table, validate
from tests.campaigns.conftest import NOW, make_spec

GOOD_CSV = ("姓名,手机,地址,社区,网格,备注\n"
            "张三,138 0013 8000,幸福路1号,东湖社区,网格1,独居\n"
            "李四,+86 139-0013-9000,幸福路2号,东湖社区,网格2,\n"
            "王五,010-12345678,和平街3号,西城社区,网格1,座机\n")


def campaign(store: Store, config: CampaignsConfig) -> int:
    return int(store.create_campaign(make_spec(config), NOW)["id"])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_csv_in_any_common_encoding_is_imported(tmp_path: Path, store: Store, config: CampaignsConfig,
                                                  encoding: str) -> None:
    path = tmp_path / "名单.csv"
    path.write_bytes(GOOD_CSV.encode(encoding))
    report = import_file(store, campaign(store, config), path, NOW)
    assert report.imported == 3 and report.error_count == 0
    targets = store.list_targets(1)
    assert [t["phone"] for t in targets] == ["+8613800138000", "+8613900139000", "+861012345678"]
    assert targets[0]["name"] == "张三" and targets[0]["grid"] == "网格1" and targets[0]["notes"] == "独居"


def test_an_xlsx_with_numbers_typed_as_numbers(tmp_path: Path, store: Store, config: CampaignsConfig) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["姓名", "电话", "地址", "社区"])
    sheet.append(["张三", 13800138000, "幸福路1号", "东湖社区"])
    sheet.append(["李四", "0571-8888 8888", "幸福路2号", "东湖社区"])
    sheet.append([None, None, None, None])  # an empty row Excel leaves behind
    path = tmp_path / "targets.xlsx"
    book.save(path)
    report = import_file(store, campaign(store, config), path, NOW)
    assert report.imported == 2
    assert {t["phone"] for t in store.list_targets(1)} == {"+8613800138000", "+8657188888888"}


def test_bad_rows_are_reported_per_row_and_nothing_is_imported(tmp_path: Path, store: Store,
                                                               config: CampaignsConfig) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("姓名,电话,地址\n"
                    "张三,13800138000,幸福路1号\n"
                    ",13900139000,幸福路2号\n"  # no name
                    "王五,1380013800,和平街3号\n"  # a digit short
                    "赵六,138-0013-8000,和平街4号\n"  # the same number as row 2
                    "钱七,13700137000,\n", encoding="utf-8")  # health checks need the address
    campaign_id = campaign(store, config)
    with pytest.raises(ImportRefused) as refused:
        import_file(store, campaign_id, path, NOW)
    errors = {(e.row, e.field) for e in refused.value.report.errors}
    assert errors == {(3, "name"), (4, "phone"), (5, "phone"), (6, "address")}
    assert "与第 2 行相同" in next(e.message for e in refused.value.report.errors if e.row == 5)
    assert store.list_targets(campaign_id) == []
    report = import_file(store, campaign_id, path, NOW, valid_only=True)
    assert report.imported == 1 and [t["name"] for t in store.list_targets(campaign_id)] == ["张三"]
    again = tmp_path / "again.csv"
    again.write_text("姓名,电话,地址\n张三,+8613800138000,幸福路1号\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as duplicate:
        import_file(store, campaign_id, again, NOW)
    assert "本活动已有名单" in duplicate.value.report.errors[0].message


@pytest.mark.parametrize(("content", "name", "message"), [
    (b"", "empty.csv", "文件是空的"),
    ("姓名,电话,地址\n".encode(), "header.csv", "名单为空"),
    ("名字,住址\n张三,幸福路\n".encode(), "nophone.csv", "表头缺少列：电话"),
    (b"PK\x03\x04 not really a workbook", "broken.xlsx", "无法读取 XLSX"),
    (b"%PDF-1.4", "list.pdf", "只支持 CSV 或 XLSX"),
])
def test_unreadable_files_are_refused_with_a_reason(config: CampaignsConfig, content: bytes, name: str,
                                                    message: str) -> None:
    with pytest.raises(TargetFileError, match=message):
        validate(read_table(content, name, config), "health_check", config)


def test_limits_on_size_and_rows(config: CampaignsConfig) -> None:
    small = config.with_(max_import_bytes=10, max_import_rows=1)
    with pytest.raises(TargetFileError, match="文件过大"):
        read_table(GOOD_CSV.encode(), "a.csv", small)
    with pytest.raises(TargetFileError, match="超过 1 行"):
        read_table(GOOD_CSV.encode(), "a.csv", small.with_(max_import_bytes=10_000))


def test_semicolons_and_unknown_columns(config: CampaignsConfig) -> None:
    rows = read_table("name;phone;address;年龄\nZhang San;13800138000;Road 1;70\n".encode(), "a.csv", config)
    report = validate(rows, "health_check", config)
    assert report.valid[0].name == "Zhang San" and report.ignored_columns == ["年龄"]
