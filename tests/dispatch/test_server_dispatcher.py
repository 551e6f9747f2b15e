"""The dispatchers' API: authentication, the life of a case, history, CORS and the status webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.dispatch.conftest import backend_for, free_port


async def new_case(backend, **fields) -> str:
    data = {"service_code": "drainage", "address_string": "幸福小区 3 号楼", "description": "下水道堵了，污水外溢",
            **fields}
    r = await backend.report(**data)
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


async def public(backend, sid):
    return (await backend.http.get(f"/open311/v2/requests/{sid}.json")).json()[0]


async def test_staff_token_is_required(backend):
    sid = await new_case(backend)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        r = await backend.http.get("/api/dispatch/tickets", headers=headers)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await backend.http.post(f"/api/dispatch/tickets/{sid}/sign", json={}, headers=headers)
        assert r.status_code == 401
    assert (await public(backend, sid))["detailed_status"] == "submitted"


async def test_life_of_a_case(backend):
    sid = await new_case(backend, phone="13812345678")
    backend.clock.advance(seconds=30)
    r = await backend.act(sid, "sign", actor="张调度")
    assert r.status_code == 200 and r.json()["detailed_status"] == "signed"
    assert (await public(backend, sid))["status_notes"] == "已签收，正在派遣"
    backend.clock.advance(minutes=5)
    r = await backend.act(sid, "assign", department="water", grid="第三网格", note="请今日处理")
    assert r.json()["department"] == "区水务局" and r.json()["grid"] == "第三网格"
    ticket = await public(backend, sid)
    assert ticket["status"] == "open" and ticket["agency_responsible"] == "区水务局"
    assert ticket["status_notes"].startswith("已派遣至区水务局（第三网格）")
    r = await backend.act(sid, "escalate", departments=["enforcement", "区住房和城乡建设委员会（物业管理科）"],
                          note="涉及违建压管")
    assert r.json()["co_departments"] == ["区城市管理综合行政执法局", "区住房和城乡建设委员会（物业管理科）"]
    assert "吹哨" in (await public(backend, sid))["status_notes"]
    await backend.act(sid, "note", note="内部：已联系物业", public=False)
    assert "内部" not in (await public(backend, sid))["status_notes"]
    await backend.act(sid, "note", note="施工队已到场")
    assert (await public(backend, sid))["status_notes"] == "施工队已到场"
    backend.clock.advance(hours=3)
    r = await backend.act(sid, "close", result="已疏通管道并清理污水")
    assert r.json()["status"] == "closed"
    ticket = await public(backend, sid)
    assert ticket["status"] == "closed" and ticket["status_notes"] == "已办结：已疏通管道并清理污水"
    assert ticket["updated_datetime"] == "2026-11-23T12:05:30+08:00"
    r = await backend.act(sid, "reopen", reason="市民反映仍有积水")
    assert r.json()["detailed_status"] == "reopened"
    assert (await public(backend, sid))["status"] == "open"
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert [h["action"] for h in detail["history"]] == [
        "created", "sign", "assign", "escalate", "note", "note", "close", "reopen"]
    assert detail["history"][1]["actor"] == "张调度"
    assert detail["contact"]["phone"] == "13812345678"
    history = (await backend.http.get(f"/api/dispatch/tickets/{sid}/history", headers=backend.staff)).json()
    assert len(history["history"]) == 8 and history["history"][4]["public"] is False


async def test_transitions_that_make_no_sense_are_409(backend):
    sid = await new_case(backend)
    assert (await backend.act(sid, "reopen", reason="x")).status_code == 409
    assert (await backend.act(sid, "sign")).status_code == 200
    r = await backend.act(sid, "sign")
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_signed"
    assert (await backend.act(sid, "assign", department="no-such-department")).status_code == 409
    assert (await backend.act(sid, "close", result="已处理")).status_code == 200
    assert (await backend.act(sid, "close", result="again")).status_code == 409
    assert (await backend.act(sid, "escalate", departments=["water"])).status_code == 409


async def test_bad_bodies_are_400_and_unknown_cases_404(backend):
    sid = await new_case(backend)
    assert (await backend.act(sid, "assign")).json()["error"]["field"] == "department"
    assert (await backend.act(sid, "close")).json()["error"]["field"] == "result"
    assert (await backend.act(sid, "escalate", departments=[])).status_code == 400
    assert (await backend.act(sid, "note", note="x", public="yes")).status_code == 400
    assert (await backend.act(sid, "note", note="a\x00b")).status_code == 400
    r = await backend.http.post(f"/api/dispatch/tickets/{sid}/close", content=b"not json", headers={
        **backend.staff, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert (await backend.act("GB19990101-0001", "sign")).status_code == 404
    r = await backend.http.get("/api/dispatch/tickets/GB19990101-0001", headers=backend.staff)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await backend.http.post(f"/api/dispatch/tickets/{sid}/explode", json={}, headers=backend.staff)
    assert r.status_code in (404, 405) and "error" in r.json()
    r = await backend.http.get("/api/dispatch/tickets", params={"status": "weird"}, headers=backend.staff)
    assert r.status_code == 400


async def test_queue_filters_and_order(backend):
    a = await new_case(backend)
    backend.clock.advance(minutes=1)
    b = await new_case(backend, service_code="emergency", description="有人被困电梯",
                       **{"attribute[injured]": "no"})
    backend.clock.advance(minutes=1)
    c = await new_case(backend, service_code="noise", description="工地夜间施工",
                       **{"attribute[noise_source]": "construction"})
    await backend.act(c, "close", result="已责令停工")

    async def queue(**params):
        r = await backend.http.get("/api/dispatch/tickets", params=params, headers=backend.staff)
        assert r.status_code == 200
        return [t["service_request_id"] for t in r.json()["tickets"]]

    assert await queue() == [b, a, c]  # urgent first, then oldest
    assert await queue(status="open") == [b, a]
    assert await queue(status="closed") == [c]
    assert await queue(department="区水务局") == [a]
    assert await queue(q="被困") == [b]
    backend.clock.advance(seconds=1)
    assert await queue(overdue="1") == [b, a]  # 1 minute to sign has passed for both
    assert await queue(limit="1", offset="1") == [a]


async def test_cors_for_the_gateway_origin(backend):
    origin = "http://127.0.0.1:8080"
    r = await backend.http.options("/api/dispatch/tickets", headers={
        "Origin": origin, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == origin
    assert "Authorization" in r.headers["access-control-allow-headers"]
    r = await backend.http.get("/api/dispatch/tickets", headers={**backend.staff, "Origin": origin})
    assert r.headers["access-control-allow-origin"] == origin
    r = await backend.http.get("/api/dispatch/tickets", headers={"Origin": origin})
    assert r.status_code == 401 and r.headers["access-control-allow-origin"] == origin
    r = await backend.http.get("/api/dispatch/tickets", headers={**backend.staff, "Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


class Receiver:
    """A real HTTP endpoint standing in for the gateway's webhook: fails ``fail_first`` times, then 200."""

    def __init__(self, fail_first: int = 0, secret: str = "hook-secret") -> None:
        self.events: list[dict] = []
        self.bad_signatures = 0
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
                if self.headers.get("X-Dispatch-Signature") != expected:
                    receiver.bad_signatures += 1
                    self.send_response(401)
                elif receiver.attempts <= fail_first:
                    self.send_response(503)
                else:
                    receiver.events.append(json.loads(body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def wait_for(predicate, timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s * 20)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_status_changes_reach_the_webhook_with_retries(kind, tmp_path):
    receiver = Receiver(fail_first=2)
    try:
        async with backend_for(kind, tmp_path, status_webhook_url=f"http://127.0.0.1:{receiver.port}/hook",
                               webhook_backoff_s=0.05, webhook_secret="hook-secret") as backend:
            sid = await new_case(backend, channel="web", sender_id="s-1")
            r = await backend.act(sid, "close", result="已疏通")
            assert r.status_code == 200  # answered without waiting for the (failing) webhook
            await wait_for(lambda: any(e["status"] == "closed" for e in receiver.events))
            closed = next(e for e in receiver.events if e["status"] == "closed")
            assert closed["service_request_id"] == sid and closed["sender_id"] == "s-1"
            assert closed["channel"] == "web" and closed["result"] == "已疏通"
            assert closed["rating_path"] == f"/open311/v2/requests/{sid}/rating.json"
            assert receiver.attempts >= 3 and receiver.bad_signatures == 0
    finally:
        receiver.close()
