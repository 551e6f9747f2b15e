"""Conformance of /open311/v2 with GeoReport v2, in JSON and XML, and every error it names.

Each test runs against SQLite and PostgreSQL (the ``backend`` fixture). Bad input must answer in the
spec's error form and leave no row behind.
"""

from __future__ import annotations

import asyncio
from xml.etree import ElementTree as ET

import pytest

from tests.dispatch.conftest import API_KEY

ROAD = {"service_code": "road", "lat": "39.9042", "long": "116.4074", "description": "小区门口路灯不亮了，晚上很黑",
        "attribute[facility]": "streetlight"}


def xml(response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)


async def count(backend) -> int:
    r = await backend.http.get("/api/dispatch/tickets", params={"limit": 500}, headers=backend.staff)
    return len(r.json()["tickets"])


async def test_services_list_json_and_xml(backend):
    r = await backend.http.get("/open311/v2/services.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json; charset=utf-8"
    services = r.json()
    names = {s["service_name"] for s in services}
    assert {"市容环卫", "噪音扰民", "道路设施/路灯/井盖", "紧急求助", "政策咨询", "其他"} <= names
    assert len(services) == 12
    for s in services:
        assert set(s) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
        assert s["type"] == "realtime" and isinstance(s["metadata"], bool)
    root = xml(await backend.http.get("/open311/v2/services.xml"))
    assert root.tag == "services" and len(root.findall("service")) == 12
    road = next(s for s in root.findall("service") if s.findtext("service_code") == "road")
    assert road.findtext("service_name") == "道路设施/路灯/井盖" and road.findtext("metadata") == "true"


async def test_service_definition_json_and_xml(backend):
    d = (await backend.http.get("/open311/v2/services/road.json")).json()
    assert d["service_code"] == "road"
    facility = d["attributes"][0]
    assert facility["code"] == "facility" and facility["datatype"] == "singlevaluelist"
    assert facility["required"] is True and facility["variable"] is True and facility["order"] == 1
    assert {"key": "streetlight", "name": "路灯"} in facility["values"]
    root = xml(await backend.http.get("/open311/v2/services/road.xml"))
    assert root.tag == "service_definition" and root.findtext("service_code") == "road"
    attr = root.find("attributes/attribute")
    assert attr.findtext("code") == "facility" and attr.findtext("required") == "true"
    assert attr.find("values/value").findtext("name") == "路灯"


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_service_definition_is_404(backend, fmt):
    r = await backend.http.get(f"/open311/v2/services/nope.{fmt}")
    assert r.status_code == 404
    if fmt == "json":
        assert r.json()[0]["code"] == 404 and r.json()[0]["description"]
    else:
        root = xml(r)
        assert root.tag == "errors" and root.find("error").findtext("code") == "404"


async def test_create_and_read_back_json(backend):
    r = await backend.report(**ROAD, phone="13812345678", channel="web", sender_id="u1", transcript="市民：路灯坏了")
    assert r.status_code == 201
    [created] = r.json()
    sid = created["service_request_id"]
    assert sid == "GB20261123-0001"
    assert created["token"] and created["expected_datetime"] == "2026-11-25T09:00:00+08:00"  # road: 48 h
    assert "GB20261123-0001" in created["service_notice"]
    [ticket] = (await backend.http.get(f"/open311/v2/requests/{sid}.json")).json()
    assert ticket["status"] == "open" and ticket["service_code"] == "road"
    assert ticket["service_name"] == "道路设施/路灯/井盖"
    assert ticket["agency_responsible"] == "区市政市容管理中心（道路设施）"
    assert ticket["requested_datetime"] == "2026-11-23T09:00:00+08:00"
    assert ticket["lat"] == pytest.approx(39.9042) and ticket["long"] == pytest.approx(116.4074)
    assert ticket["description"] == ROAD["description"]
    for private in ("phone", "sender_id", "transcript", "contact"):
        assert private not in ticket
    tokens = (await backend.http.get(f"/open311/v2/tokens/{created['token']}.json")).json()
    assert tokens == [{"service_request_id": sid, "token": created["token"]}]
    second = (await backend.report(**{**ROAD, "lat": "31.2", "long": "121.4"})).json()[0]
    assert second["service_request_id"] == "GB20261123-0002"


async def test_phone_numbers_in_the_description_are_masked_in_public(backend):
    sid = (await backend.report(**{**ROAD, "description": "路灯坏了，请回电 13812345678"})).json()[0][
        "service_request_id"]
    [ticket] = (await backend.http.get(f"/open311/v2/requests/{sid}.json")).json()
    assert "13812345678" not in ticket["description"] and "138****5678" in ticket["description"]
    staff = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert staff["description"] == "路灯坏了，请回电 13812345678"


async def test_create_and_read_back_xml(backend):
    r = await backend.report("xml", service_code="noise", address_string="幸福路 8 号", description="楼下工地夜间施工",
                             **{"attribute[noise_source]": "construction"})
    assert r.status_code == 201
    root = xml(r)
    assert root.tag == "service_requests"
    sid = root.find("request").findtext("service_request_id")
    assert root.find("request").findtext("expected_datetime") == "2026-11-23T21:00:00+08:00"  # noise: 12 h
    one = xml(await backend.http.get(f"/open311/v2/requests/{sid}.xml"))
    req = one.find("request")
    assert req.findtext("status") == "open" and req.findtext("address") == "幸福路 8 号"
    assert req.find("lat") is not None and req.findtext("lat") == ""  # empty element for no value
    token = root.find("request").findtext("token")
    tok = xml(await backend.http.get(f"/open311/v2/tokens/{token}.xml"))
    assert tok.find("request").findtext("service_request_id") == sid


async def test_get_requests_filters(backend):
    a = (await backend.report(**ROAD)).json()[0]["service_request_id"]
    b = (await backend.report(service_code="drainage", address_id="addr-77", description="下水道堵了")).json()[0][
        "service_request_id"]
    backend.clock.advance(days=2)
    c = (await backend.report(service_code="drainage", address_id="addr-99", description="路口积水")).json()[0][
        "service_request_id"]
    assert (await backend.act(b, "close", result="已疏通")).status_code == 200

    async def ids(**params):
        r = await backend.http.get("/open311/v2/requests.json", params=params)
        assert r.status_code == 200, r.text
        return {t["service_request_id"] for t in r.json()}

    assert await ids() == {a, b, c}
    assert await ids(service_request_id=f"{a},{c}") == {a, c}
    assert await ids(service_code="drainage") == {b, c}
    assert await ids(status="closed") == {b}
    assert await ids(status="open") == {a, c}
    assert await ids(start_date="2026-11-24T00:00:00+08:00") == {c}
    assert await ids(end_date="2026-11-24T00:00:00Z") == {a, b}
    root = xml(await backend.http.get("/open311/v2/requests.xml", params={"status": "closed"}))
    [req] = root.findall("request")
    assert req.findtext("status") == "closed" and "已疏通" in req.findtext("status_notes")


async def test_my_cases_need_the_api_key(backend):
    mine = (await backend.report(**ROAD, sender_id="wx:alice", phone="13800000001")).json()[0]["service_request_id"]
    await backend.report(service_code="other", address_string="某处", description="别人的", sender_id="wx:bob")
    r = await backend.http.get("/open311/v2/requests.json", params={"sender_id": "wx:alice"})
    assert r.status_code == 403 and r.json()[0]["code"] == 403
    r = await backend.http.get("/open311/v2/requests.json", params={"sender_id": "wx:alice", "api_key": "wrong"})
    assert r.status_code == 403
    r = await backend.http.get("/open311/v2/requests.json", params={"sender_id": "wx:alice", "api_key": API_KEY})
    assert [t["service_request_id"] for t in r.json()] == [mine]
    r = await backend.http.get("/open311/v2/requests.json", params={"phone": "13800000001", "api_key": API_KEY})
    assert [t["service_request_id"] for t in r.json()] == [mine]


async def test_the_reporter_of_a_case_is_told_only_to_api_key_holders(backend):
    sid = (await backend.report(**ROAD, sender_id="wx:alice", phone="13800000001", channel="wx")).json()[0][
        "service_request_id"]
    public = (await backend.http.get(f"/open311/v2/requests/{sid}.json")).json()[0]
    assert not {"phone", "sender_id", "channel"} & set(public)
    wrong = (await backend.http.get(f"/open311/v2/requests/{sid}.json", params={"api_key": "wrong"})).json()[0]
    assert "phone" not in wrong and "sender_id" not in wrong
    keyed = (await backend.http.get(f"/open311/v2/requests/{sid}.json", params={"api_key": API_KEY})).json()[0]
    assert (keyed["phone"], keyed["sender_id"], keyed["channel"]) == ("13800000001", "wx:alice", "wx")
    root = xml(await backend.http.get(f"/open311/v2/requests/{sid}.xml", params={"api_key": API_KEY}))
    assert root.find("request").findtext("sender_id") == "wx:alice"


BAD_POSTS = [
    ({"service_code": "road", "lat": "39.9", "long": "116.4", "attribute[facility]": "streetlight",
      "api_key": "wrong"}, 403),
    ({"service_code": "road", "lat": "39.9", "long": "116.4", "attribute[facility]": "streetlight",
      "api_key": None}, 403),
    ({"lat": "39.9", "long": "116.4"}, 400),  # no service_code
    ({"service_code": "nope", "lat": "39.9", "long": "116.4"}, 404),
    ({"service_code": "road", "attribute[facility]": "streetlight"}, 400),  # no location
    ({"service_code": "road", "lat": "39.9", "attribute[facility]": "streetlight"}, 400),  # lat without long
    ({"service_code": "road", "lat": "91", "long": "116.4", "attribute[facility]": "streetlight"}, 400),
    ({"service_code": "road", "lat": "39.9", "long": "-181", "attribute[facility]": "streetlight"}, 400),
    ({"service_code": "road", "lat": "abc", "long": "116.4", "attribute[facility]": "streetlight"}, 400),
    ({"service_code": "road", "lat": "nan", "long": "116.4", "attribute[facility]": "streetlight"}, 400),
    ({"service_code": "road", "lat": "39.9", "long": "116.4"}, 400),  # required attribute missing
    ({"service_code": "road", "lat": "39.9", "long": "116.4", "attribute[facility]": "ufo"}, 400),
    ({"service_code": "road", "lat": "39.9", "long": "116.4", "attribute[facility]": "streetlight",
      "attribute[colour]": "red"}, 400),  # unknown attribute
    ({"service_code": "road", "lat": "39.9", "long": "116.4", "attribute[facility]": "streetlight",
      "description": "长" * 4001}, 400),
    ({"service_code": "other", "address_string": "某处", "description": "a\x00b"}, 400),  # NUL
    ({"service_code": "other", "address_string": "某处", "media_url": "javascript:alert(1)"}, 400),
    ({"service_code": "other", "address_string": "某处", "phone": "call me"}, 400),
    ({"service_code": "other", "address_string": "某处", "jurisdiction_id": "elsewhere"}, 404),
]


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_bad_posts_answer_in_the_spec_error_form_and_store_nothing(backend, fmt):
    for fields, status in BAD_POSTS:
        data = {"api_key": API_KEY, **fields}
        data = {k: v for k, v in data.items() if v is not None}
        r = await backend.http.post(f"/open311/v2/requests.{fmt}", data=data)
        assert r.status_code == status, (fields, r.text)
        if fmt == "json":
            [error] = r.json()
            assert error["code"] == status and isinstance(error["description"], str) and error["description"]
        else:
            root = xml(r)
            assert root.tag == "errors" and root.find("error").findtext("code") == str(status)
    assert await count(backend) == 0


async def test_description_of_exactly_4000_chars_is_accepted(backend):
    r = await backend.report(service_code="other", address_string="某处", description="长" * 4000)
    assert r.status_code == 201


@pytest.mark.parametrize("params", [{"start_date": "yesterday"}, {"end_date": "2026-13-45"},
                                    {"start_date": "2026-11-25T00:00:00Z", "end_date": "2026-11-20T00:00:00Z"},
                                    {"status": "pending"}])
async def test_bad_filters_are_400(backend, params):
    for fmt in ("json", "xml"):
        r = await backend.http.get(f"/open311/v2/requests.{fmt}", params=params)
        assert r.status_code == 400
        assert (r.json()[0]["code"] if fmt == "json" else xml(r).find("error").findtext("code")) in (400, "400")


async def test_unknown_things_are_404_in_spec_form(backend):
    for path in ("/open311/v2/requests/GB19990101-0001.json", "/open311/v2/tokens/nope.xml",
                 "/open311/v2/widgets.json", "/open311/v2/services.csv", "/open311/v2/nothing/here.json"):
        r = await backend.http.get(path)
        assert r.status_code == 404, path
        body = r.json() if path.endswith((".json", ".csv")) else None
        if body is not None:
            assert body[0]["code"] == 404


INJECTIONS = [
    "'; DROP TABLE dispatch_tickets; --",
    '<script>alert("x")</script> & <b>bold</b>',
    "]]><evil/><![CDATA[",
    "Robert'); DELETE FROM dispatch_history;-- 路灯",
]


async def test_injection_is_stored_verbatim_and_escaped_on_output(backend):
    sids = []
    for text in INJECTIONS:
        r = await backend.report(service_code="other", address_string=text, description=text)
        assert r.status_code == 201, r.text
        sids.append(r.json()[0]["service_request_id"])
    for sid, text in zip(sids, INJECTIONS, strict=True):
        [ticket] = (await backend.http.get(f"/open311/v2/requests/{sid}.json")).json()
        assert ticket["description"] == text and ticket["address"] == text
        r = await backend.http.get(f"/open311/v2/requests/{sid}.xml")
        assert b"<script>" not in r.content and b"<evil/>" not in r.content
        req = xml(r).find("request")  # parses: the XML is well formed
        assert req.findtext("description") == text and req.findtext("address") == text
    assert await count(backend) == len(INJECTIONS)


async def test_idempotency_key_field_and_header_return_the_original(backend):
    first = await backend.report(**ROAD, idempotency_key="conv-1:turn-3")
    again = await backend.report(**{**ROAD, "description": "重发"}, idempotency_key="conv-1:turn-3")
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]
    h1 = await backend.http.post("/open311/v2/requests.xml", data={"api_key": API_KEY, **ROAD, "lat": "30.0"},
                                 headers={"Idempotency-Key": "hdr-1"})
    h2 = await backend.http.post("/open311/v2/requests.xml", data={"api_key": API_KEY, **ROAD, "lat": "30.0"},
                                 headers={"Idempotency-Key": "hdr-1"})
    assert h1.status_code == 201 and h2.status_code == 200
    assert xml(h1).find("request").findtext("service_request_id") == xml(h2).find("request").findtext(
        "service_request_id")
    assert await count(backend) == 2


async def test_concurrent_duplicates_of_one_key_make_one_ticket(backend):
    fields = {**ROAD, "idempotency_key": "race-1"}
    answers = await asyncio.gather(*(backend.report(**fields) for _ in range(8)))
    assert {r.status_code for r in answers} <= {200, 201}
    assert sum(r.status_code == 201 for r in answers) == 1
    assert len({r.json()[0]["service_request_id"] for r in answers}) == 1
    assert await count(backend) == 1


async def test_urgent_flag_and_emergency_service(backend):
    r = await backend.report(service_code="emergency", address_string="幸福小区 3 号楼", description="有人被困",
                             **{"attribute[injured]": "unknown"})
    [ticket] = (await backend.http.get(f"/open311/v2/requests/{r.json()[0]['service_request_id']}.json")).json()
    assert ticket["urgent"] is True and ticket["expected_datetime"] == "2026-11-23T11:00:00+08:00"  # 2 h
    r = await backend.report(service_code="other", address_string="某处", description="着急", urgent="true")
    [ticket] = (await backend.http.get(f"/open311/v2/requests/{r.json()[0]['service_request_id']}.json")).json()
    assert ticket["urgent"] is True


async def test_multivalue_and_optional_attributes(backend):
    r = await backend.report(service_code="noise", address_string="幸福路", description="吵",
                             **{"attribute[noise_source]": "business", "attribute[time_period]": "22:00 以后"})
    assert r.status_code == 201
    sid = r.json()[0]["service_request_id"]
    detail = (await backend.http.get(f"/api/dispatch/tickets/{sid}", headers=backend.staff)).json()
    assert detail["attributes"] == {"noise_source": "business", "time_period": "22:00 以后"}


async def test_never_a_500_on_garbage(backend):
    for method, path, kwargs in [
        ("post", "/open311/v2/requests.json", {"content": b"\xff\xfe\x00garbage",
                                               "headers": {"Content-Type": "application/x-www-form-urlencoded"}}),
        ("post", "/open311/v2/requests.json", {"json": {"service_code": "road"}}),
        ("post", "/open311/v2/requests.xml", {"content": b"x" * 10,
                                              "headers": {"Content-Type": "multipart/form-data; boundary=zz"}}),
        ("get", "/open311/v2/requests.json?service_request_id=%00", {}),
        ("get", "/open311/v2/requests.json?start_date=%F0%9F%98%80", {}),
        ("delete", "/open311/v2/requests.json", {}),
    ]:
        r = await getattr(backend.http, method)(path, **kwargs)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert await count(backend) == 0


async def test_oversized_body_is_413_in_spec_form(backend):
    r = await backend.http.post("/open311/v2/requests.xml", data={"api_key": API_KEY, "service_code": "other",
                                                                  "description": "x" * 2_000_000})
    assert r.status_code == 413
    assert xml(r).find("error").findtext("code") == "413"
    assert await count(backend) == 0


async def test_service_discovery(backend):
    d = (await backend.http.get("/open311/discovery.json")).json()
    [endpoint] = d["endpoints"]
    assert endpoint["url"] == f"{backend.base}/open311/v2/"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = xml(await backend.http.get("/open311/discovery.xml"))
    assert [f.text for f in root.findall("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]
