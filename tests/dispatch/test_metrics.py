"""Ratings and the command centre's figures: 受理率, 按期办结率, 满意率, median times."""

from __future__ import annotations

import asyncio

import pytest

from tests.dispatch.conftest import API_KEY


async def case(backend, code="other", **fields) -> str:
    attrs = {"noise": {"attribute[noise_source]": "living"}}.get(code, {})
    r = await backend.report(service_code=code, address_string=f"地址{backend.clock.now().timestamp()}",
                             description=f"问题 {backend.clock.now().timestamp()}", **attrs, **fields)
    assert r.status_code == 201, r.text
    return r.json()[0]["service_request_id"]


async def rate(backend, sid, fmt="json", **fields):
    return await backend.http.post(f"/open311/v2/requests/{sid}/rating.{fmt}", data={"api_key": API_KEY, **fields})


async def test_ratings(backend):
    sid = await case(backend)
    r = await rate(backend, sid, score="5")
    assert r.status_code == 400 and "办结" in r.json()[0]["description"]  # not closed yet
    await backend.act(sid, "close", result="已处理")
    assert (await rate(backend, sid, score="5", api_key="bad")).status_code == 403
    for bad in ("0", "6", "很好", ""):
        assert (await rate(backend, sid, score=bad)).status_code == 400
    r = await rate(backend, sid, score="好评", comment="<b>谢谢</b>")
    assert r.status_code == 201 and r.json()[0]["score"] == 5 and r.json()[0]["comment"] == "<b>谢谢</b>"
    assert (await rate(backend, sid, score="3")).status_code == 400  # once per reporter
    assert (await rate(backend, "GB19990101-0001", score="3")).status_code == 404
    sid2 = await case(backend)
    await backend.act(sid2, "close", result="已处理")
    r = await rate(backend, sid2, "xml", score="差评")
    assert r.status_code == 201 and b"<score>1</score>" in r.content
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert detail["ratings"] == [{"score": 5, "comment": "<b>谢谢</b>", "at": "2026-11-23T09:00:00+08:00"}]


async def test_a_second_rating_is_refused_with_a_reason_and_changes_nothing(backend):
    sid = await case(backend)
    await backend.act(sid, "close", result="已处理")
    assert (await rate(backend, sid, score="5", comment="很好")).status_code == 201
    for fmt in ("json", "xml"):
        again = await rate(backend, sid, fmt, score="1", comment="改成差评")
        assert again.status_code == 400
        if fmt == "json":
            assert again.json() == [{"code": 400, "description": "该工单已评价", "reason": "already_rated"}]
        else:
            assert b"<reason>already_rated</reason>" in again.content
    not_closed = await rate(backend, await case(backend), score="5")
    assert not_closed.status_code == 400 and not_closed.json()[0]["reason"] == "not_closed"
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert [(r["score"], r["comment"]) for r in detail["ratings"]] == [(5, "很好")]


async def test_ratings_racing_for_one_case_leave_one_rating(backend):
    sid = await case(backend)
    await backend.act(sid, "close", result="已处理")
    answers = await asyncio.gather(*(rate(backend, sid, score=str(score)) for score in (1, 2, 3, 4, 5, 1, 2, 3)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201] + [400] * 7, [a.text for a in answers]
    assert all(a.json()[0]["reason"] == "already_rated" for a in answers if a.status_code == 400)
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert len(detail["ratings"]) == 1


async def test_metrics_by_department(backend):
    # three cases for the grid centre (其他), one for ecology (噪音扰民)
    a = await case(backend)
    backend.clock.advance(minutes=2)
    await backend.act(a, "sign")
    backend.clock.advance(minutes=8)
    await backend.act(a, "assign", department="grid")
    backend.clock.advance(hours=2)
    await backend.act(a, "close", result="已处理")  # on time: 2 h 10 min of 24 h
    await rate(backend, a, score="5")

    b = await case(backend)
    backend.clock.advance(minutes=4)
    await backend.act(b, "sign")
    backend.clock.advance(hours=30)
    await backend.act(b, "close", result="已处理")  # late
    await rate(backend, b, score="差评")

    await case(backend)  # never signed
    n = await case(backend, code="noise")
    backend.clock.advance(minutes=6)
    await backend.act(n, "sign")

    r = await backend.http.get("/api/dispatch/metrics", params={"start": "2026-11-01T00:00:00+08:00"},
                               headers=backend.staff)
    assert r.status_code == 200, r.text
    report = r.json()
    total = report["total"]
    assert total["cases"] == 4 and total["signed"] == 3 and total["closed"] == 2
    assert total["acceptance_rate"] == 0.75
    assert total["on_time_closure_rate"] == 0.5
    assert total["satisfaction_rate"] == 0.5 and total["ratings"] == 2
    assert total["median_minutes_to_sign"] == 4.0
    grid = next(d for d in report["departments"] if d["department"] == "区网格化管理中心")
    assert grid["cases"] == 3 and grid["acceptance_rate"] == pytest.approx(0.6667)
    assert grid["median_minutes_to_dispatch"] == 10.0
    assert grid["median_minutes_to_close"] == pytest.approx((130 + 30 * 60 + 4) / 2)
    eco = next(d for d in report["departments"] if d["department"] == "区生态环境局")
    assert eco["cases"] == 1 and eco["satisfaction_rate"] is None
    one = (await backend.http.get("/api/dispatch/metrics", headers=backend.staff,
                                  params={"start": "2026-11-01T00:00:00+08:00", "department": "区生态环境局"})).json()
    assert one["total"]["cases"] == 1
    empty = (await backend.http.get("/api/dispatch/metrics", headers=backend.staff,
                                    params={"start": "2020-01-01T00:00:00Z", "end": "2020-02-01T00:00:00Z"})).json()
    assert empty["total"]["cases"] == 0 and empty["total"]["acceptance_rate"] is None
    bad = await backend.http.get("/api/dispatch/metrics", params={"start": "last week"}, headers=backend.staff)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_field"


async def test_duplicate_reporters_rate_the_shared_case(backend):
    first = await backend.report(service_code="drainage", address_string="幸福路", description="下水道堵了")
    second = await backend.report(service_code="drainage", address_string="幸福路", description="下水道又堵了")
    p, c = first.json()[0]["service_request_id"], second.json()[0]["service_request_id"]
    await backend.act(p, "close", result="已疏通")
    assert (await rate(backend, p, score="5")).status_code == 201
    assert (await rate(backend, c, score="1")).status_code == 201
    report = (await backend.http.get("/api/dispatch/metrics", headers=backend.staff,
                                     params={"start": "2026-11-01T00:00:00+08:00"})).json()
    assert report["total"]["cases"] == 1 and report["total"]["reports"] == 2
    assert report["total"]["ratings"] == 2 and report["total"]["satisfaction_rate"] == 0.5
