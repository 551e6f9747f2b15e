"""The /api/kb HTTP API through a real sanic app (the same blueprint the gateway mounts)."""

from __future__ import annotations

import json

import pytest
from sanic import Sanic

from knowledge_base.search import SearchService


async def test_public_search_get_and_post(app: Sanic, seeded: SearchService) -> None:
    _, res = await app.asgi_client.get("/api/kb/search", params={"q": "租房能提取公积金吗", "top": "2"})
    assert res.status == 200
    assert res.json["outcome"] == "answer" and res.json["results"][0]["id"] == "gjj-001"
    assert len(res.json["results"]) == 2
    _, res = await app.asgi_client.post("/api/kb/search", json={"query": "讲个笑话吧", "top": 3, "sender": "u1"})
    assert res.status == 200 and res.json["outcome"] == "none"
    _, res = await app.asgi_client.get("/api/kb/search", params={"q": "推荐一部电影", "log": "0"})
    assert res.json["outcome"] == "none"
    assert [r.query for r in seeded.store.unanswered_rows(10)] == ["讲个笑话吧"]


@pytest.mark.parametrize(("kwargs", "status", "field"), [
    ({"params": {"q": "  "}}, 400, "query"),
    ({"params": {"q": "问" * 5000}}, 413, "query"),
    ({"params": {"q": "🙂🙂"}}, 400, "query"),
    ({"params": {"q": "社保", "top": "abc"}}, 400, "top"),
])
async def test_search_errors(app: Sanic, kwargs: dict, status: int, field: str) -> None:
    _, res = await app.asgi_client.get("/api/kb/search", **kwargs)
    assert res.status == status
    assert res.json["error"]["field"] == field and res.json["error"]["message"]


async def test_post_search_needs_json(app: Sanic) -> None:
    _, res = await app.asgi_client.post("/api/kb/search", content="query=x", headers={"content-type": "text/plain"})
    assert res.status == 415
    _, res = await app.asgi_client.post("/api/kb/search", content="{bad", headers={"content-type": "application/json"})
    assert res.status == 400 and res.json["error"]["field"] == "body"


async def test_staff_endpoints_need_the_token(app: Sanic) -> None:
    for method, path in [("get", "/api/kb/entries"), ("post", "/api/kb/entries"), ("get", "/api/kb/unanswered"),
                         ("get", "/api/kb/export"), ("post", "/api/kb/import")]:
        _, res = await getattr(app.asgi_client, method)(path, headers={"Authorization": "Bearer wrong"})
        assert res.status == 401, path


async def test_curation_flow_changes_the_next_answer(app: Sanic, staff: dict, seeded: SearchService) -> None:
    client = app.asgi_client
    body = {"id": "x-1", "question": "无人机飞行需要报备吗", "answer": "<script>alert(1)</script>须提前报备。",
            "category": "交通出行", "alternates": ["放无人机要审批吗"], "author": "王科长"}
    _, res = await client.post("/api/kb/entries", json=body, headers=staff)
    assert res.status == 201 and res.json["status"] == "draft" and res.json["updated_by"] == "王科长"
    _, res = await client.post("/api/kb/entries", json=body, headers=staff)
    assert res.status == 409 and res.json["error"]["field"] == "id"

    _, res = await client.post("/api/kb/entries/x-1/publish", json={"author": "王科长"}, headers=staff)
    assert res.status == 200 and res.json["status"] == "published"
    seeded.refresh()
    _, res = await client.get("/api/kb/search", params={"q": "放无人机需要审批吗"})
    assert res.json["results"][0]["id"] == "x-1"
    assert res.json["results"][0]["answer"].startswith("<script>")  # stored as text; the page escapes it

    _, res = await client.put("/api/kb/entries/x-1", json={"answer": "在管制空域须提前申请。", "version": 2},
                              headers=staff)
    assert res.status == 200 and res.json["version"] == 3
    _, res = await client.put("/api/kb/entries/x-1", json={"answer": "旧版本覆盖", "version": 2}, headers=staff)
    assert res.status == 409 and res.json["error"]["field"] == "version"
    _, res = await client.put("/api/kb/entries/x-1", json={"answer": ""}, headers=staff)
    assert res.status == 400 and res.json["error"]["field"] == "answer"
    seeded.refresh()
    _, res = await client.get("/api/kb/search", params={"q": "放无人机需要审批吗"})
    assert res.json["results"][0]["answer"] == "在管制空域须提前申请。"

    _, res = await client.get("/api/kb/entries/x-1/history", headers=staff)
    assert [v["version"] for v in res.json["versions"]] == [3, 2, 1]
    _, res = await client.post("/api/kb/entries/x-1/restore", json={"version": 1}, headers=staff)
    assert res.status == 200 and res.json["status"] == "draft" and res.json["version"] == 4
    _, res = await client.post("/api/kb/entries/x-1/restore", json={"version": 99}, headers=staff)
    assert res.status == 404
    _, res = await client.delete("/api/kb/entries/x-1", headers=staff)
    assert res.json["status"] == "archived"
    _, res = await client.get("/api/kb/entries/nope", headers=staff)
    assert res.status == 404 and res.json["error"]["field"] == "id"

    _, res = await client.get("/api/kb/entries", params={"status": "archived"}, headers=staff)
    assert [e["id"] for e in res.json["entries"]] == ["x-1"]
    _, res = await client.get("/api/kb/entries", params={"category": "公积金", "q": "租房"}, headers=staff)
    assert {e["id"] for e in res.json["entries"]} == {"gjj-001"}


async def test_import_and_export(app: Sanic, staff: dict) -> None:
    client = app.asgi_client
    csv_gbk = "id,question,answer,category\nx-9,垃圾清运费怎么交,随水费征收。,城市管理\n".encode("gbk")
    _, res = await client.post("/api/kb/import?author=李", content=csv_gbk,
                               headers={**staff, "content-type": "text/csv"})
    assert res.status == 200, res.text
    assert res.json == {"created": 1, "updated": 0, "unchanged": 0, "encoding": "gbk"}

    bad = json.dumps([{"id": "x-10", "question": "q", "answer": "", "category": "c"}]).encode()
    _, res = await client.post("/api/kb/import", content=bad, headers={**staff, "content-type": "application/json"})
    assert res.status == 400 and res.json["error"]["field"] == "answer" and "第 1 行" in res.json["error"]["message"]
    _, res = await client.post("/api/kb/import", content=b"x", headers={**staff, "content-type": "image/png"})
    assert res.status == 415
    big = b"[" + b" " * 6_000_000 + b"]"
    _, res = await client.post("/api/kb/import", content=big, headers={**staff, "content-type": "application/json"})
    assert res.status == 413

    _, res = await client.get("/api/kb/export", params={"format": "csv"}, headers=staff)
    assert res.status == 200 and res.headers["content-type"].startswith("text/csv")
    assert "x-9,垃圾清运费怎么交" in res.body.decode("utf-8")
    _, res = await client.get("/api/kb/export", params={"format": "xml"}, headers=staff)
    assert res.status == 400 and res.json["error"]["field"] == "format"


async def test_unanswered_groups_and_resolve(app: Sanic, staff: dict) -> None:
    client = app.asgi_client
    for q in ["宠物医院晚上开门吗", "宠物医院晚上开不开门", "宠物医院晚上开门吗"]:
        await client.post("/api/kb/search", json={"query": q})
    _, res = await client.get("/api/kb/unanswered", headers=staff)
    group = res.json["groups"][0]
    assert group["count"] == 3 and group["question"] == "宠物医院晚上开门吗"
    _, res = await client.post("/api/kb/unanswered/resolve", json={"ids": group["ids"], "entry_id": "nope"},
                               headers=staff)
    assert res.status == 404
    _, res = await client.post("/api/kb/unanswered/resolve", json={"ids": group["ids"], "entry_id": "sb-001"},
                               headers=staff)
    assert res.json == {"resolved": 3}
    _, res = await client.get("/api/kb/unanswered", headers=staff)
    assert res.json["groups"] == []
