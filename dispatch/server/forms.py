"""Input schemas of the Open311 methods: form fields and query strings into typed value objects.

Everything a client can get wrong is caught here and answered with the spec's error form (400, or
404 for an unknown service), before the store is touched, so a bad request never leaves a row.
Text is stored verbatim (HTML and SQL included; output escapes it) except control characters,
which XML cannot carry and PostgreSQL rejects (NUL), so they are refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from dispatch.server.catalogue import Catalogue, ServiceType
from dispatch.server.config import DispatchConfig
from dispatch.server.output import Open311Error
from dispatch.server.store import Filters, NewRequest

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]+)\](\[\])?$")
_PHONE = re.compile(r"^\+?[\d\- ]{3,32}$")
_TRUE = {"1", "true", "yes", "on", "是"}


def text_field(value: str | None, name: str, limit: int, multiline: bool = False) -> str | None:
    if value is None:
        return None
    value = value.strip() if not multiline else value
    if not value.strip():
        return None
    if _CONTROL.search(value):
        raise Open311Error(400, f"{name} 含有不可见的控制字符")
    if len(value) > limit:
        raise Open311Error(400, f"{name} 过长（最多 {limit} 个字符）")
    return value


def parse_new_request(form: Mapping[str, list[str]], headers: Mapping[str, str], catalogue: Catalogue,
                      config: DispatchConfig) -> NewRequest:
    """POST requests: ``service_code``, a location, ``attribute[CODE]`` and the optional fields."""

    def one(name: str, limit: int = config.max_field_chars, multiline: bool = False) -> str | None:
        values = form.get(name) or []
        return text_field(values[0] if values else None, name, limit, multiline)

    code = one("service_code")
    if not code:
        raise Open311Error(400, "缺少 service_code")
    service = catalogue.get(code)
    if service is None:
        raise Open311Error(404, f"服务 {code} 不存在")
    lat, long = one("lat"), one("long")
    address_string, address_id = one("address_string"), one("address_id")
    if (lat is None) != (long is None):
        raise Open311Error(400, "lat 与 long 须同时提供")
    coords = (coordinate(lat, "lat", 90.0), coordinate(long, "long", 180.0)) if lat is not None else (None, None)
    if coords[0] is None and not address_string and not address_id:
        raise Open311Error(400, "缺少位置：请提供 lat 和 long、address_string 或 address_id")
    media_url = one("media_url")
    if media_url and urlsplit(media_url).scheme not in ("http", "https"):
        raise Open311Error(400, "media_url 须为 http(s) 地址")
    phone = one("phone")
    if phone and not _PHONE.match(phone):
        raise Open311Error(400, "phone 格式不正确")
    key = one("idempotency_key") or text_field(headers.get("idempotency-key"), "Idempotency-Key",
                                               config.max_field_chars)
    return NewRequest(
        service_code=code,
        description=one("description", config.max_description_chars, multiline=True) or "",
        lat=coords[0], long=coords[1],
        address_string=address_string, address_id=address_id, grid=one("grid"),
        media_url=media_url,
        attributes=attributes(form, service, config),
        email=one("email"), first_name=one("first_name"), last_name=one("last_name"), phone=phone,
        device_id=one("device_id"), account_id=one("account_id"),
        channel=one("channel"), sender_id=one("sender_id"),
        transcript=one("transcript", config.max_transcript_chars, multiline=True),
        urgent=(one("urgent") or "").lower() in _TRUE,
        idempotency_key=key,
    )


def coordinate(raw: str | None, name: str, bound: float) -> float:
    try:
        value = float(raw or "")
    except ValueError:
        raise Open311Error(400, f"{name} 不是有效的坐标") from None
    if not math.isfinite(value) or abs(value) > bound:
        raise Open311Error(400, f"{name} 超出范围（±{bound:g}）")
    return value


def attributes(form: Mapping[str, list[str]], service: ServiceType, config: DispatchConfig) -> dict[str, Any]:
    """``attribute[CODE]`` fields checked against the service definition (unknown codes refused)."""
    given: dict[str, list[str]] = {}
    for name, values in form.items():
        match = _ATTRIBUTE.match(name)
        if match:
            given.setdefault(match.group(1), []).extend(values)
    known = {a.code: a for a in service.attributes}
    for code in given:
        if code not in known:
            raise Open311Error(400, f"服务 {service.code} 没有属性 {code}")
    result: dict[str, Any] = {}
    for attr in service.attributes:
        values = [v for v in (text_field(v, f"attribute[{attr.code}]", config.max_field_chars)
                              for v in given.get(attr.code, [])) if v]
        if not values:
            if attr.required:
                raise Open311Error(400, f"缺少必填属性 attribute[{attr.code}]（{attr.description}）")
            continue
        keys = {key for key, _ in attr.values}
        if attr.datatype in ("singlevaluelist", "multivaluelist") and any(v not in keys for v in values):
            raise Open311Error(400, f"attribute[{attr.code}] 的取值须为：{'、'.join(sorted(keys))}")
        if attr.datatype == "number":
            try:
                [float(v) for v in values]
            except ValueError:
                raise Open311Error(400, f"attribute[{attr.code}] 须为数字") from None
        if attr.datatype == "datetime":
            [iso_datetime(v, f"attribute[{attr.code}]", config) for v in values]
        result[attr.code] = values if attr.datatype == "multivaluelist" else values[0]
    return result


def iso_datetime(raw: str, name: str, config: DispatchConfig) -> datetime:
    """ISO 8601; without a zone the district's zone is assumed (the spec asks clients to send one)."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Open311Error(400, f"{name} 不是有效的 ISO 8601 时间：{raw[:40]}") from None
    return value if value.tzinfo else value.replace(tzinfo=config.timezone)


def parse_filters(args: Mapping[str, list[str]], now: datetime, config: DispatchConfig,
                  authenticated: bool) -> Filters:
    """GET requests: the spec's filters; without dates, the last ``list_default_days`` days."""

    def one(name: str) -> str | None:
        values = args.get(name) or []
        return text_field(values[0] if values else None, name, config.max_field_chars)

    def csv(name: str) -> tuple[str, ...]:
        return tuple(part.strip() for part in (one(name) or "").split(",") if part.strip())

    statuses = tuple(s.lower() for s in csv("status"))
    if any(s not in ("open", "closed") for s in statuses):
        raise Open311Error(400, "status 只能是 open 或 closed")
    start = iso_datetime(one("start_date"), "start_date", config) if one("start_date") else None
    end = iso_datetime(one("end_date"), "end_date", config) if one("end_date") else None
    if start and end and start > end:
        raise Open311Error(400, "start_date 晚于 end_date")
    phone, sender_id, channel = one("phone"), one("sender_id"), one("channel")
    if (phone or sender_id) and not authenticated:
        raise Open311Error(403, "按 phone 或 sender_id 查询需要有效的 api_key")
    if start is None and end is None and not (phone or sender_id):
        start = now - timedelta(days=config.list_default_days)
    return Filters(ids=csv("service_request_id"), service_codes=csv("service_code"), statuses=statuses,
                   start=start, end=end, phone=phone, sender_id=sender_id, channel=channel,
                   limit=config.list_max_results)


def parse_rating(form: Mapping[str, list[str]], config: DispatchConfig) -> tuple[int, str]:
    """Score 1–5, or 好评/中评/差评 (5/3/1), with an optional comment."""
    words = {"好评": 5, "满意": 5, "中评": 3, "一般": 3, "差评": 1, "不满意": 1}
    raw = text_field((form.get("score") or form.get("rating") or [None])[0], "score", config.max_field_chars)
    if raw is None:
        raise Open311Error(400, "缺少 score（1–5，或 好评/中评/差评）")
    score = words.get(raw)
    if score is None:
        try:
            score = int(raw)
        except ValueError:
            raise Open311Error(400, "score 须为 1–5 或 好评/中评/差评") from None
    if not 1 <= score <= 5:
        raise Open311Error(400, "score 须在 1 到 5 之间")
    comment = text_field((form.get("comment") or [None])[0], "comment", config.max_description_chars, True) or ""
    return score, comment


def form_fields(request: Any) -> dict[str, list[str]]:
    """Form-encoded (or multipart) fields of a request as name → values."""
    form = request.form or {}
    return {name: list(form.getlist(name)) for name in form}


def query_fields(request: Any) -> dict[str, list[str]]:
    return {name: list(values) for name, values in request.args.items()}
