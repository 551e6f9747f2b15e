"""Import files: formats, encodings and every kind of bad row, checked before anything is written."""

from __future__ import annotations

import json

import pytest

from knowledge_base import curation, files
from knowledge_base.store import Store

GOOD = [
    {"id": "t-1", "question": "社保卡丢了怎么补办", "answer": "到网点补办。", "category": "社保",
     "alternates": ["社保卡掉了"], "keywords": ["社保卡"]},
    {"id": "t-2", "question": "公积金怎么提取", "answer": "在 App 申请。", "category": "公积金"},
]

CSV_TEXT = (
    "id,question,answer,category,keywords,alternates\n"
    "c-1,社保卡丢了怎么补办,携带身份证到网点补办。,社保,社保卡|补办,社保卡掉了咋办|社保卡遗失\n"
    "c-2,公积金怎么提取,\"在 App 申请，三个工作日到账。\",公积金,,\n"
)


def test_json_yaml_csv_parse_to_the_same_entries() -> None:
    from_json, _ = files.read_entries(json.dumps(GOOD, ensure_ascii=False).encode(), "json", "published")
    assert [e.id for e in from_json] == ["t-1", "t-2"]
    assert from_json[0].alternates == ["社保卡掉了"] and from_json[1].status == "published"
    entries, encoding = files.read_entries(CSV_TEXT.encode("utf-8"), "csv", "draft")
    assert encoding == "utf-8"
    assert entries[0].keywords == ["社保卡", "补办"] and entries[0].alternates == ["社保卡掉了咋办", "社保卡遗失"]
    assert entries[1].answer == "在 App 申请，三个工作日到账。" and entries[1].status == "draft"


def test_gbk_csv_from_excel_is_detected() -> None:
    entries, encoding = files.read_entries(CSV_TEXT.encode("gbk"), "csv", "published")
    assert encoding == "gbk"
    assert entries[0].question == "社保卡丢了怎么补办"


def test_mixed_encoding_is_refused_with_a_clear_message() -> None:
    data = CSV_TEXT.encode("utf-8") + "c-3,户口怎么迁,到派出所办理。,户籍,,\n".encode("gbk")
    with pytest.raises(files.FileError, match="编码"):
        files.read_entries(data, "csv", "published")


def test_utf8_with_a_bom_and_gb18030_import() -> None:
    entries, encoding = files.read_entries(CSV_TEXT.encode("utf-8-sig"), "csv", "published")
    assert encoding == "utf-8" and entries[0].id == "c-1"  # the BOM is not part of the first column's name
    rare = CSV_TEXT + "c-3,名字里有𠮷字怎么登记,到户籍窗口办理。,户籍,,\n"  # outside GBK: GB18030 only
    entries, encoding = files.read_entries(rare.encode("gb18030"), "csv", "published")
    assert encoding == "gbk" and entries[2].question == "名字里有𠮷字怎么登记"


@pytest.mark.parametrize("text", [
    "id,question,answer,category\nhk-1,港澳居民來往內地通行證怎麼辦理,攜帶身份證明文件到出入境管理處辦理。,出入境\n"
    "hk-2,臺灣居民居住證申請條件,在內地居住半年以上，有合法穩定就業。,出入境\n",
    "id,question,answer,category\nn-1,名字里有“堃”“喆”“旻”“燊”怎么办,户籍窗口可录入生僻字。,户籍\n",
])
def test_gbk_in_traditional_or_rare_characters_is_chinese_too(text: str) -> None:
    """The old rule ("real Chinese is mostly inside GB2312") refused these as an unknown encoding."""
    entries, encoding = files.read_entries(text.encode("gbk"), "csv", "published")
    assert encoding == "gbk" and entries[0].question == text.splitlines()[1].split(",")[1]


def test_binary_junk_is_refused_with_a_clear_message() -> None:
    junk = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    with pytest.raises(files.FileError, match="无法识别文件编码"):
        files.read_entries(junk, "csv", "published")


@pytest.mark.parametrize(("rows", "row", "field", "words"), [
    ([GOOD[0], {**GOOD[1], "id": "t-1"}], 2, "id", "重复"),
    ([GOOD[0], {**GOOD[1], "answer": "   "}], 2, "answer", "不能为空"),
    ([{**GOOD[0], "colour": "red"}], 1, "colour", "未知字段"),
    ([GOOD[0], {**GOOD[1], "status": "live"}], 2, "status", "draft"),
    ([{**GOOD[0], "valid_to": "2024-13-01"}], 1, "valid_to", "日期"),
    ([{**GOOD[0], "id": "有空格 的id"}], 1, "id", "字母"),
    ([{**GOOD[0], "question": ""}], 1, "question", "不能为空"),
])
def test_bad_rows_are_named_by_row_and_field(rows: list, row: int, field: str, words: str) -> None:
    with pytest.raises(files.FileError) as info:
        files.read_entries(json.dumps(rows, ensure_ascii=False).encode(), "json", "published")
    error = info.value.errors[0]
    assert (error.row, error.field) == (row, field)
    assert words in str(info.value)


def test_unknown_csv_column_and_structural_errors() -> None:
    with pytest.raises(files.FileError, match="未知字段"):
        files.read_entries(b"id,question,answer,category,remark\n", "csv", "published")
    with pytest.raises(files.FileError, match="格式错误"):
        files.read_entries(b"[{", "json", "published")
    with pytest.raises(files.FileError, match="空"):
        files.read_entries(b"   ", "yaml", "published")
    with pytest.raises(files.FileError, match="没有任何条目"):
        files.read_entries(b"[]", "json", "published")
    with pytest.raises(files.FileError, match="格式"):
        files.format_of("faq.xlsx")


def test_a_bad_file_writes_nothing_and_a_good_one_round_trips(store: Store) -> None:
    bad = json.dumps([GOOD[0], {**GOOD[1], "answer": ""}], ensure_ascii=False).encode()
    with pytest.raises(files.FileError):
        entries, _ = files.read_entries(bad, "json", "published")
        curation.import_entries(store, entries, "t")
    assert store.list() == [] and store.revision() == 0

    entries, _ = files.read_entries(CSV_TEXT.encode(), "csv", "published")
    assert curation.import_entries(store, entries, "t").to_dict() == {"created": 2, "updated": 0, "unchanged": 0}
    for fmt in files.FORMATS:
        again, _ = files.read_entries(files.dump(store.list(), fmt), fmt, "draft")
        assert [e.content() for e in again] == [e.content() for e in store.list()]
        assert curation.import_entries(store, again, "t").unchanged == 2


def test_reimport_updates_by_id_and_records_a_version(store: Store) -> None:
    entries, _ = files.read_entries(json.dumps(GOOD, ensure_ascii=False).encode(), "json", "published")
    curation.import_entries(store, entries, "alice")
    changed = [{**GOOD[0], "answer": "新的答案。"}]
    entries, _ = files.read_entries(json.dumps(changed, ensure_ascii=False).encode(), "json", "published")
    assert curation.import_entries(store, entries, "bob").updated == 1
    history = store.history("t-1")
    assert [v["version"] for v in history] == [2, 1]
    assert history[0]["author"] == "bob" and history[0]["content"]["answer"] == "新的答案。"


def test_a_failing_transaction_leaves_no_partial_rows(store: Store) -> None:
    entries, _ = files.read_entries(json.dumps(GOOD, ensure_ascii=False).encode(), "json", "published")
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.save(entries[0], "t", "import")
        raise RuntimeError("disk full halfway")
    assert store.list() == [] and store.history("t-1") == [] and store.revision() == 0
