"""The "also answers" field: validation, the store (and older databases), files, import, and the HTTP API."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sanic import Sanic

from knowledge_base import curation, files
from knowledge_base.entry import MAX_ALSO_ANSWERS, EntryError, validate
from knowledge_base.search import SearchService
from knowledge_base.store import Store

BASE = {"id": "t-1", "question": "社保卡丢了怎么补办", "answer": "到网点补办。", "category": "社保",
        "alternates": ["社保卡掉了"]}


def test_validation_accepts_lists_and_file_separators_and_drops_repeats() -> None:
    entry = validate({**BASE, "also_answers": "社保卡被偷了怎么办|社保卡掉了|社保卡丢了怎么补办|社保卡被偷了怎么办"})
    assert entry.also_answers == ["社保卡被偷了怎么办"]
    assert entry.texts() == ["社保卡丢了怎么补办", "社保卡掉了", "社保卡被偷了怎么办"]   # indexed like alternates
    assert validate(BASE).also_answers == []                                            # old rows: no field


@pytest.mark.parametrize(("value", "message"), [
    (42, "文本列表"), (["好", {"x": 1}], "只能是文本"), (["长" * 201], "过长"),
    ([f"问法{i}" for i in range(MAX_ALSO_ANSWERS + 1)], "最多"),
])
def test_bad_also_answers_name_the_field(value: object, message: str) -> None:
    with pytest.raises(EntryError) as info:
        validate({**BASE, "also_answers": value})
    assert info.value.field == "also_answers" and message in info.value.message


def test_store_round_trip_and_history(store: Store) -> None:
    curation.create(store, {**BASE, "also_answers": ["社保卡被偷了怎么办"]}, "t")
    assert store.get("t-1").also_answers == ["社保卡被偷了怎么办"]
    entry, added = curation.add_also_answer(store, "t-1", "社保卡找不着了", "李")
    assert added and entry.version == 2 and entry.also_answers == ["社保卡被偷了怎么办", "社保卡找不着了"]
    assert curation.add_also_answer(store, "t-1", "社保卡掉了", "李") == (store.get("t-1"), False)  # an alternate
    history = store.history("t-1")
    assert history[0]["action"] == "also_answers" and history[0]["author"] == "李"
    assert [e.id for e in store.list(text="找不着")] == ["t-1"]
    with pytest.raises(curation.Conflict):
        curation.add_also_answer(store, "t-1", "又一种问法", "李", expected_version=1)
    with pytest.raises(curation.NotFound):
        curation.add_also_answer(store, "nope", "又一种问法", "李")


def test_an_older_database_gains_the_new_columns(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/old.sqlite3"
    engine = sa.create_engine(url)
    with engine.begin() as conn:    # the schema as the first release created it
        conn.execute(sa.text(
            "CREATE TABLE kb_entries (id VARCHAR(64) PRIMARY KEY, question TEXT NOT NULL, alternates TEXT NOT NULL,"
            " answer TEXT NOT NULL, category VARCHAR(50) NOT NULL, keywords TEXT NOT NULL, source TEXT NOT NULL,"
            " status VARCHAR(16) NOT NULL, valid_from VARCHAR(10), valid_to VARCHAR(10), version INTEGER NOT NULL,"
            " updated_by VARCHAR(100) NOT NULL, updated_at VARCHAR(32) NOT NULL)"))
        conn.execute(sa.text(
            "INSERT INTO kb_entries VALUES ('old-1', '老问题', '[]', '老答案', '社保', '[]', '', 'published',"
            " NULL, NULL, 1, 'x', '2024-01-01')"))
        conn.execute(sa.text(
            "CREATE TABLE kb_unanswered (id INTEGER PRIMARY KEY AUTOINCREMENT, query TEXT NOT NULL,"
            " outcome VARCHAR(10) NOT NULL, top_entry_id VARCHAR(64), score FLOAT, embedder VARCHAR(100) NOT NULL,"
            " vector BLOB, at VARCHAR(32) NOT NULL, resolved_entry_id VARCHAR(64))"))
    engine.dispose()
    store = Store(url)
    assert store.get("old-1").also_answers == []
    store.log_unanswered("一个问题", "none", None, None, "e", None, "原因")
    assert store.unanswered_rows(5)[0].reason == "原因"
    curation.add_also_answer(store, "old-1", "老问题的新问法", "t")
    assert store.get("old-1").also_answers == ["老问题的新问法"]
    store.dispose()


@pytest.mark.parametrize("fmt", files.FORMATS)
def test_export_reimports_unchanged_with_the_field(store: Store, fmt: str) -> None:
    curation.create(store, {**BASE, "also_answers": ["社保卡被偷了怎么办", "卡丢了"]}, "t")
    data = files.dump(store.list(), fmt)
    entries, _ = files.read_entries(data, fmt, "draft")
    assert entries[0].also_answers == ["社保卡被偷了怎么办", "卡丢了"]
    assert curation.import_entries(store, entries, "t").to_dict() == {"created": 0, "updated": 0, "unchanged": 1}


def test_an_old_file_without_the_field_imports_and_keeps_adopted_wordings(store: Store) -> None:
    old_csv = "id,question,answer,category,alternates\nt-1,社保卡丢了怎么补办,到网点补办。,社保,社保卡掉了\n"
    entries, _ = files.read_entries(old_csv.encode("utf-8"), "csv", "published")
    assert curation.import_entries(store, entries, "t").created == 1
    curation.add_also_answer(store, "t-1", "社保卡被偷了怎么办", "t")
    changed = old_csv.replace("到网点补办。", "到任一网点补办。")
    entries, _ = files.read_entries(changed.encode("utf-8"), "csv", "published")
    assert curation.import_entries(store, entries, "t").updated == 1
    current = store.get("t-1")
    assert current.answer == "到任一网点补办。" and current.also_answers == ["社保卡被偷了怎么办"]


# --- HTTP ------------------------------------------------------------------------------------

async def test_adopting_a_near_miss_from_the_unanswered_list(app: Sanic, staff: dict, seeded: SearchService) -> None:
    client = app.asgi_client
    query = "退役军人优待证在哪里申领"
    _, res = await client.post("/api/kb/search", json={"query": query})
    assert res.json["outcome"] != "answer" and "退役军人" in res.json["explain"]["reason"]
    _, res = await client.get("/api/kb/unanswered", headers=staff)
    group = res.json["groups"][0]
    assert group["question"] == query and "退役军人" in group["reason"]
    assert group["nearest_entry_id"] == "mz-010" and group["nearest_entry_question"] == "老年人优待证怎么办？"

    body = {"text": query, "ids": group["ids"], "author": "王科长"}
    _, res = await client.post("/api/kb/entries/mz-010/also-answers", json=body, headers=staff)
    assert res.status == 200, res.text
    assert res.json["added"] and res.json["resolved"] == 1
    assert res.json["entry"]["also_answers"] == [query] and res.json["entry"]["updated_by"] == "王科长"
    _, res = await client.post("/api/kb/entries/mz-010/also-answers", json=body, headers=staff)
    assert res.status == 200 and res.json["added"] is False                   # the second click changes nothing
    _, res = await client.get("/api/kb/unanswered", headers=staff)
    assert res.json["groups"] == []
    seeded.refresh()
    _, res = await client.get("/api/kb/search", params={"q": query})
    assert res.json["outcome"] == "answer" and res.json["results"][0]["id"] == "mz-010"


async def test_the_field_through_create_update_and_get(app: Sanic, staff: dict) -> None:
    client = app.asgi_client
    body = {"id": "x-1", "question": "无人机飞行需要报备吗", "answer": "须提前报备。", "category": "交通出行",
            "also_answers": ["航拍要不要申请"]}
    _, res = await client.post("/api/kb/entries", json=body, headers=staff)
    assert res.status == 201 and res.json["also_answers"] == ["航拍要不要申请"]
    _, res = await client.put("/api/kb/entries/x-1", json={"also_answers": ["航拍要不要申请", "放飞无人机要审批吗"]},
                              headers=staff)
    assert res.status == 200 and res.json["version"] == 2
    _, res = await client.get("/api/kb/entries/x-1", headers=staff)
    assert res.json["also_answers"] == ["航拍要不要申请", "放飞无人机要审批吗"]
    _, res = await client.put("/api/kb/entries/x-1", json={"also_answers": "x" * 300}, headers=staff)
    assert res.status == 400 and res.json["error"]["field"] == "also_answers"
    _, res = await client.get("/api/kb/export", params={"format": "json"}, headers=staff)
    exported = {e["id"]: e for e in json.loads(res.body)}
    assert exported["x-1"]["also_answers"] == ["航拍要不要申请", "放飞无人机要审批吗"]


@pytest.mark.parametrize(("body", "status", "field"), [
    ({}, 400, "text"), ({"text": "   "}, 400, "text"), ({"text": 42}, 400, "text"), ({"text": "🙂🙂"}, 400, "text"),
    ({"text": "问" * 201}, 400, "text"), ({"text": "好问题", "ids": "1,2"}, 400, "ids"),
    ({"text": "好问题", "ids": [1, "2"]}, 400, "ids"), ({"text": "好问题", "version": "2"}, 400, "version"),
    ({"text": "好问题", "version": 99}, 409, "version"),
])
async def test_bad_input_to_also_answers_names_the_field(app: Sanic, staff: dict, body: dict, status: int,
                                                         field: str) -> None:
    _, res = await app.asgi_client.post("/api/kb/entries/sb-001/also-answers", json=body, headers=staff)
    assert res.status == status, res.text
    assert res.json["error"]["field"] == field and res.json["error"]["message"]


async def test_also_answers_refuses_unknown_entries_other_media_and_strangers(app: Sanic, staff: dict) -> None:
    client = app.asgi_client
    _, res = await client.post("/api/kb/entries/nope/also-answers", json={"text": "好问题"}, headers=staff)
    assert res.status == 404 and res.json["error"]["field"] == "id"
    _, res = await client.post("/api/kb/entries/sb-001/also-answers", content="text=x",
                               headers={**staff, "content-type": "text/plain"})
    assert res.status == 415 and res.json["error"]["field"] == "content-type"
    _, res = await client.post("/api/kb/entries/sb-001/also-answers", json={"text": "好问题"},
                               headers={"Authorization": "Bearer wrong"})
    assert res.status == 401
