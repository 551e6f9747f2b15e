"""SLA: deadlines per service, overdue detection with a moved clock, supervision (督办) and escalation."""

from __future__ import annotations

from tests.dispatch.conftest import backend_for


async def case(backend, **fields) -> str:
    data = {"service_code": "other", "address_string": "幸福小区", "description": "楼道灯坏了", **fields}
    r = await backend.report(**data)
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


async def scan(backend) -> list[dict]:
    r = await backend.http.post("/api/dispatch/sla/scan", headers=backend.staff)
    assert r.status_code == 200
    return r.json()["found"]


async def supervision(backend, **params) -> list[dict]:
    r = await backend.http.get("/api/dispatch/supervision", params=params, headers=backend.staff)
    return r.json()["supervision"]


async def test_default_sla_sign_dispatch_close(backend):
    sid = await case(backend)
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert detail["sign_due"] == "2026-11-23T09:01:00+08:00"  # 1 minute
    assert detail["dispatch_due"] == "2026-11-23T09:30:00+08:00"  # 30 minutes
    assert detail["close_due"] == detail["expected_datetime"] == "2026-11-24T09:00:00+08:00"  # 24 hours
    assert await scan(backend) == []
    backend.clock.advance(seconds=61)
    [found] = await scan(backend)
    assert found["stage"] == "sign" and found["service_request_id"] == sid
    assert await scan(backend) == []  # recorded once, not on every scan
    [entry] = await supervision(backend)
    assert entry["stage"] == "sign" and entry["overdue_level"] == 1
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert detail["overdue"] == ["sign"]
    assert "区网格化管理中心（督办科）" in detail["co_departments"]
    assert detail["history"][-1]["action"] == "overdue" and "超时未签收" in detail["history"][-1]["note"]
    # signing resolves the sign entry; then dispatch and close run late in turn
    await backend.act(sid, "sign")
    assert await supervision(backend) == []
    backend.clock.advance(minutes=30)
    assert [f["stage"] for f in await scan(backend)] == ["dispatch"]
    await backend.act(sid, "assign", department="grid", grid="第一网格")
    backend.clock.advance(hours=24)
    assert [f["stage"] for f in await scan(backend)] == ["close"]
    await backend.act(sid, "close", result="已修好")
    assert await supervision(backend) == []
    assert len(await supervision(backend, all="1")) == 3


async def test_per_service_sla_and_urgent_escalation(backend):
    sid = await case(backend, service_code="emergency", description="燃气味很重",
                     **{"attribute[injured]": "no"})
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert detail["dispatch_due"] == "2026-11-23T09:05:00+08:00" and detail["urgent"] is True
    backend.clock.advance(minutes=6)
    stages = sorted(f["stage"] for f in await scan(backend))
    assert stages == ["dispatch", "sign"]
    r = await backend.http.get("/api/dispatch/tickets", params={"overdue": "1"}, headers=backend.staff)
    assert [t["service_request_id"] for t in r.json()["tickets"]] == [sid]


async def test_reopen_gets_a_new_deadline_and_closed_cases_are_not_chased(backend):
    sid = await case(backend)
    await backend.act(sid, "close", result="已处理")
    backend.clock.advance(days=3)
    assert await scan(backend) == []
    await backend.act(sid, "reopen", reason="没修好")
    [ticket] = (await backend.http.get(f"/open311/v2/requests/{sid}.json")).json()
    assert ticket["expected_datetime"] == "2026-11-27T09:00:00+08:00"  # reopened 11-26 09:00 + 24 h
    backend.clock.advance(minutes=31)  # closed without dispatch: the dispatch clock restarted at reopen
    assert [f["stage"] for f in await scan(backend)] == ["dispatch"]
    await backend.act(sid, "assign", department="grid")
    backend.clock.advance(hours=24)
    assert [f["stage"] for f in await scan(backend)] == ["close"]


async def test_sla_defaults_come_from_settings(tmp_path):
    async with backend_for("sqlite", tmp_path, sla_close_hours=2, sla_dispatch_minutes=10) as backend:
        sid = await case(backend)
        detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
        assert detail["close_due"] == "2026-11-23T11:00:00+08:00"
        assert detail["dispatch_due"] == "2026-11-23T09:10:00+08:00"


async def test_the_scheduler_runs_on_its_own(tmp_path):
    async with backend_for("sqlite", tmp_path, sla_scan_interval_s=0.05) as backend:
        sid = await case(backend)
        backend.clock.advance(minutes=2)
        import asyncio

        for _ in range(100):
            if await supervision(backend):
                break
            await asyncio.sleep(0.05)
        assert [e["service_request_id"] for e in await supervision(backend)] == [sid]
