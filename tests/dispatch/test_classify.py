"""The keyword classifier proposes the catalogue's service codes (the resident confirms in the dialogue)."""

from __future__ import annotations

import pytest

from dispatch.classify import classify, service_name, table


@pytest.mark.parametrize(("text", "code"), [
    ("楼下KTV半夜太吵了", "noise"), ("隔壁装修太吵", "noise"), ("路面有个大坑", "road"), ("路灯不亮", "road"),
    ("我家煤气漏气了", "gas_safety"), ("垃圾好几天没人清运", "sanitation"), ("消防通道被车堵了", "fire_lane"),
    ("小区里有人私搭乱建", "illegal_building"), ("老鼠很多需要消杀", "public_health"),
    ("请问居住证怎么办理", "policy"), ("救命，着火了", "emergency"), ("下水道堵了", "drainage"),
    ("电梯坏了", "property"), ("今天天气不错", "other"), ("", "other"),
])
def test_classify(text: str, code: str) -> None:
    assert classify(text)[0] == code


def test_ties_go_to_the_urgent_service() -> None:
    assert classify("路面很危险")[0] == "emergency"  # 路面 (road) and 危险 (emergency) score 2 each
    assert classify("路面坑洼")[0] == "road"


def test_codes_and_names_follow_the_server_catalogue() -> None:
    from dispatch.classify import CATALOGUE

    codes = [s.service_code for s in table()[0]]
    if CATALOGUE.exists():
        import yaml

        catalogue = yaml.safe_load(CATALOGUE.read_text(encoding="utf-8"))["services"]
        assert codes == [s["code"] for s in catalogue]
    assert service_name("noise") == "噪音扰民" and service_name("unknown") == "unknown"
