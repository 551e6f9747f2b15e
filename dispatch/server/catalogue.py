"""The service catalogue: typed value objects loaded from ``catalogue.yaml``.

Departments, attribute definitions and each service's SLA live in YAML so a district changes its
categories without touching code (the open311-adapter keeps per-deployment config the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")


@dataclass(frozen=True)
class Attribute:
    code: str
    description: str
    datatype: str
    required: bool
    order: int
    values: tuple[tuple[str, str], ...] = ()

    def to_open311(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "variable": True,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": None,
            "order": self.order,
            "description": self.description,
        }
        if self.values:
            data["values"] = [{"key": key, "name": name} for key, name in self.values]
        return data


@dataclass(frozen=True)
class Sla:
    sign: timedelta
    dispatch: timedelta
    close: timedelta


@dataclass(frozen=True)
class ServiceType:
    code: str
    name: str
    description: str
    group: str
    keywords: tuple[str, ...]
    department: str  # department key
    department_name: str
    sla: Sla
    urgent: bool = False
    dedup: bool = True
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)

    def to_open311(self) -> dict[str, Any]:
        return {
            "service_code": self.code,
            "service_name": self.name,
            "description": self.description,
            "metadata": bool(self.attributes),
            "type": "realtime",
            "keywords": ",".join(self.keywords),
            "group": self.group,
        }

    def definition(self) -> dict[str, Any]:
        return {"service_code": self.code, "attributes": [a.to_open311() for a in self.attributes]}


@dataclass(frozen=True)
class Catalogue:
    departments: dict[str, str]
    services: dict[str, ServiceType]

    def get(self, code: str) -> ServiceType | None:
        return self.services.get(code)

    def department_name(self, key_or_name: str) -> str | None:
        """A department's display name from its key or its name (dispatchers may send either)."""
        if key_or_name in self.departments:
            return self.departments[key_or_name]
        return key_or_name if key_or_name in self.departments.values() else None


def load(path: Path, default_sla: Sla) -> Catalogue:
    """Read and check the catalogue; a mistake in it stops the server at start-up with its location."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    departments = {str(k): str(v) for k, v in data["departments"].items()}
    services: dict[str, ServiceType] = {}
    for raw in data["services"]:
        code = str(raw["code"])
        if raw["department"] not in departments:
            raise ValueError(f"{path}: service {code}: unknown department {raw['department']!r}")
        sla_raw = raw.get("sla") or {}
        sla = Sla(
            sign=timedelta(minutes=sla_raw["sign_minutes"]) if "sign_minutes" in sla_raw else default_sla.sign,
            dispatch=(timedelta(minutes=sla_raw["dispatch_minutes"])
                      if "dispatch_minutes" in sla_raw else default_sla.dispatch),
            close=timedelta(hours=sla_raw["close_hours"]) if "close_hours" in sla_raw else default_sla.close,
        )
        attributes = []
        for order, attr in enumerate(raw.get("attributes") or [], start=1):
            if attr["datatype"] not in DATATYPES:
                raise ValueError(f"{path}: service {code}: attribute {attr['code']}: bad datatype")
            values = tuple((str(v["key"]), str(v["name"])) for v in attr.get("values") or [])
            attributes.append(Attribute(str(attr["code"]), str(attr["description"]), attr["datatype"],
                                        bool(attr.get("required", False)), order, values))
        services[code] = ServiceType(
            code=code, name=str(raw["name"]), description=str(raw.get("description", "")),
            group=str(raw.get("group", "")), keywords=tuple(str(k) for k in raw.get("keywords") or []),
            department=raw["department"], department_name=departments[raw["department"]], sla=sla,
            urgent=bool(raw.get("urgent", False)), dedup=bool(raw.get("dedup", True)),
            attributes=tuple(attributes),
        )
    return Catalogue(departments, services)
