"""Every response speaks Mandarin by default and has an English variation for the `language` slot."""

from __future__ import annotations

import re
import string
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
EN = [{"type": "slot", "name": "language", "value": "en"}]
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
# Placeholders only one language uses: the catalogue's Chinese category name, its English label.
ZH_ONLY, EN_ONLY = {"category", "service_name"}, {"category_en"}


def responses() -> dict[str, list[dict]]:
    return yaml.safe_load((ROOT / "assistant" / "domain.yml").read_text(encoding="utf-8"))["responses"]


def placeholders(variations: list[dict]) -> set[str]:
    return {name for v in variations for _, name, _, _ in string.Formatter().parse(v.get("text") or "") if name}


def test_the_language_slot_defaults_to_mandarin_and_is_filled_by_the_detector() -> None:
    slot = yaml.safe_load((ROOT / "assistant" / "domain.yml").read_text(encoding="utf-8"))["slots"]["language"]
    assert slot["initial_value"] == "zh" and slot["influence_conversation"] is False
    assert slot["mappings"] == [{"type": "custom", "action": "action_detect_language"}]


def test_every_response_has_mandarin_first_and_an_english_variation() -> None:
    for name, variations in responses().items():
        assert not variations[0].get("condition"), f"{name}: the first (default) variation must be Mandarin"
        zh = [v for v in variations if not v.get("condition")]
        en = [v for v in variations if v.get("condition")]
        assert zh and en, name
        assert all(v["condition"] == EN for v in en), name
        assert all(CJK.search(v["text"]) for v in zh), f"{name}: the default variation is not Mandarin"
        assert not any(CJK.search(v["text"]) for v in en), f"{name}: Chinese text in the English variation"


def test_english_buttons_keep_the_payloads_and_placeholders_match() -> None:
    for name, variations in responses().items():
        zh = [v for v in variations if not v.get("condition")]
        en = [v for v in variations if v.get("condition")]
        for variation in en:
            payloads = [b["payload"] for b in variation.get("buttons") or []]
            assert payloads == [b["payload"] for b in zh[0].get("buttons") or []], name
        assert placeholders(en) - placeholders(zh) <= EN_ONLY, name
        assert placeholders(zh) - placeholders(en) <= ZH_ONLY, name
