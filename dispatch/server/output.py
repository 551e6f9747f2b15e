"""One output function for the Open311 API: the same data as JSON or as the spec's XML.

As in FixMyStreet's Open311 controller, handlers build plain dicts and lists and never format
themselves; ``render`` switches on the format the path ends with. XML is built with ElementTree,
which escapes ``< > &`` in every text node, so stored HTML or SQL comes back inert in both formats.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from sanic import response
from sanic.response import HTTPResponse

FORMATS = ("json", "xml")
# XML element for each item of a list, by the list's own element name (GeoReport v2 examples).
ITEM_NAMES = {
    "services": "service",
    "service_requests": "request",
    "attributes": "attribute",
    "values": "value",
    "errors": "error",
    "ratings": "rating",
    "endpoints": "endpoint",
    "formats": "format",
}
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


class Open311Error(Exception):
    """An error in the spec's form: ``[{"code": 400, "description": "..."}]`` (or ``<errors>``).

    ``reason`` (extension) is a stable word a client can act on (``already_rated``), where the
    description is for people and may change.
    """

    def __init__(self, status: int, description: str, reason: str | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.reason = status, description, reason


def split_format(name: str) -> tuple[str, str]:
    """``"noise.xml"`` → ``("noise", "xml")``; anything but .json/.xml is not a resource (404)."""
    stem, dot, fmt = name.rpartition(".")
    if not dot or not stem or fmt not in FORMATS:
        raise Open311Error(404, "资源不存在：路径须以 .json 或 .xml 结尾")
    return stem, fmt


def render(data: Any, fmt: str, root: str, status: int = 200) -> HTTPResponse:
    """``data`` as JSON, or as XML under ``<root>`` (a list's items named by ``ITEM_NAMES``)."""
    if fmt == "xml":
        element = _element(root, data)
        body = '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="unicode")
        return response.text(body, status=status, content_type=XML_TYPE)
    return response.text(json.dumps(data, ensure_ascii=False, default=_json_default), status=status,
                         content_type=JSON_TYPE)


def render_error(error: Open311Error, fmt: str) -> HTTPResponse:
    item: dict[str, Any] = {"code": error.status, "description": error.description}
    if error.reason:
        item["reason"] = error.reason
    return render([item], fmt, "errors", error.status)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    raise TypeError(type(value).__name__)


def _element(name: str, value: Any) -> ET.Element:
    node = ET.Element(name)
    if isinstance(value, dict):
        for key, item in value.items():
            node.append(_element(key, item))
    elif isinstance(value, (list, tuple)):
        for item in value:
            node.append(_element(ITEM_NAMES.get(name, "item"), item))
    elif isinstance(value, bool):
        node.text = "true" if value else "false"
    elif isinstance(value, datetime):
        node.text = value.isoformat(timespec="seconds")
    elif value is not None:
        node.text = str(value)
    return node
