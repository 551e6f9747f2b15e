"""Duplicates (汇总去重): a report of the same problem near an open case is linked to it."""

from __future__ import annotations

import pytest

from dispatch.server import dedup
from tests.dispatch.conftest import backend_for

LIGHT = {"service_code": "road", "attribute[facility]": "streetlight"}


def test_similarity_of_chinese_wording():
    assert dedup.similarity("小区门口路灯不亮了，晚上很黑", "小区门口的路灯坏了不亮") > 0.3
    assert dedup.similarity("小区门口路灯不亮了", "井盖丢了很危险") == 0.0
    assert dedup.similarity("", "路灯") == 0.0


def test_distance_and_place():
    assert dedup.distance_m(39.9042, 116.4074, 39.9051, 116.4074) == pytest.approx(100, abs=1)
    near = {"lat": 39.9042, "long": 116.4074}
    assert dedup.same_place(near, {"lat": 39.9050, "long": 116.4080}, 200)
    assert not dedup.same_place(near, {"lat": 39.92, "long": 116.4074}, 200)
    assert dedup.same_place({"address_string": "幸福小区3号楼"}, {"address_string": "幸福小区 3 号楼门口"}, 200)
    assert dedup.same_place({"address_id": "A1"}, {"address_id": "A1"}, 200)
    assert not dedup.same_place({"address_string": "3号"}, {"address_string": "13号楼"}, 200)


async def report(backend, **fields) -> dict:
    r = await backend.report(**{**LIGHT, **fields})
    assert r.status_code == 201, r.text
    return r.json()[0]


async def test_near_and_similar_is_linked_and_counts_reporters(backend):
    first = await report(backend, lat="39.9042", long="116.4074", description="小区门口路灯不亮了，晚上很黑",
                         sender_id="a")
    backend.clock.advance(minutes=10)
    second = await report(backend, lat="39.9050", long="116.4080", description="小区门口的路灯坏了不亮",
                          sender_id="b")
    third = await report(backend, lat="39.9043", long="116.4075", description="门口路灯不亮", sender_id="c")
    assert "合并处理" in second["service_notice"]
    assert second["expected_datetime"] == first["expected_datetime"]
    queue = (await backend.http.get("/api/dispatch/tickets", headers=backend.staff)).json()["tickets"]
    assert [t["service_request_id"] for t in queue] == [first["service_request_id"]]
    assert queue[0]["reporters"] == 3
    detail = (await backend.http.get(f"/api/dispatch/tickets/{first['service_request_id']}",
                                     headers=backend.staff)).json()
    assert [d["service_request_id"] for d in detail["duplicates"]] == [second["service_request_id"],
                                                                     third["service_request_id"]]
    # the duplicate is not worked on its own ...
    r = await backend.act(second["service_request_id"], "sign")
    assert r.status_code == 409 and r.json()["error"]["code"] == "merged"
    # ... and every reporter hears the outcome
    await backend.act(first["service_request_id"], "close", result="已更换灯泡")
    for sid in (second["service_request_id"], third["service_request_id"]):
        [ticket] = (await backend.http.get(f"/open311/v2/requests/{sid}.json")).json()
        assert ticket["status"] == "closed" and "已更换灯泡" in ticket["status_notes"]
        assert first["service_request_id"] in ticket["status_notes"]


async def test_not_linked_when_far_different_closed_or_other_service(backend):
    base = await report(backend, lat="39.9042", long="116.4074", description="小区门口路灯不亮了")
    far = await report(backend, lat="39.9200", long="116.4074", description="小区门口路灯不亮了")
    other_text = await report(backend, lat="39.9043", long="116.4074", description="护栏被撞歪了",
                              **{"attribute[facility]": "railing"})
    other_service = await backend.report(service_code="sanitation", lat="39.9042", long="116.4074",
                                         description="小区门口路灯不亮了", **{"attribute[problem_type]": "street"})
    for item in (far, other_text, other_service.json()[0]):
        assert "合并" not in item["service_notice"]
    await backend.act(base["service_request_id"], "close", result="已修")
    after_close = await report(backend, lat="39.9042", long="116.4074", description="小区门口路灯不亮了")
    assert "合并" not in after_close["service_notice"]


async def test_linked_by_address_when_there_are_no_coordinates(backend):
    await report(backend, address_string="幸福小区3号楼", description="楼前路灯不亮")
    dup = await report(backend, address_string="幸福小区 3 号楼门口", description="3号楼前的路灯不亮了")
    assert "合并" in dup["service_notice"]
    other = await report(backend, address_string="光明小区", description="楼前路灯不亮")
    assert "合并" not in other["service_notice"]


async def test_emergencies_and_consultations_are_never_merged(backend):
    for code, attrs in (("emergency", {"attribute[injured]": "no"}), ("policy", {})):
        answers = [await backend.report(service_code=code, address_string="幸福小区", description="同一件事",
                                        **attrs) for _ in range(2)]
        assert all("合并" not in r.json()[0]["service_notice"] for r in answers)


async def test_old_cases_are_not_candidates(tmp_path):
    async with backend_for("sqlite", tmp_path, dedup_window_hours=1) as backend:
        await report(backend, address_string="幸福小区3号楼", description="路灯不亮")
        backend.clock.advance(hours=2)
        late = await report(backend, address_string="幸福小区3号楼", description="路灯不亮")
        assert "合并" not in late["service_notice"]


async def test_concurrent_reports_of_one_problem_make_one_case(backend):
    import asyncio

    answers = await asyncio.gather(*(backend.report(**LIGHT, lat=f"{39.9042 + i * 0.00001:.6f}", long="116.4074",
                                                    description="小区门口路灯不亮了") for i in range(10)))
    assert all(r.status_code == 201 for r in answers)
    queue = (await backend.http.get("/api/dispatch/tickets", headers=backend.staff)).json()["tickets"]
    assert len(queue) == 1 and queue[0]["reporters"] == 10
    numbers = sorted(r.json()[0]["service_request_id"] for r in answers)
    assert numbers == [f"GB20261123-{i:04d}" for i in range(1, 11)]  # numbered without gaps or repeats
