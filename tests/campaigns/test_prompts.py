"""The campaigns' fixed prompts as `python -m speech prompts` lists them: kinds', stored campaigns', the dialler's."""

from __future__ import annotations

from campaigns import kinds
from campaigns.prompts import fixed_prompts, spec_parts, spec_texts
from common import settings
from speech import prompts as speech_prompts
from tests.campaigns.conftest import NOW, make_config, make_spec


def test_every_campaign_sentence_is_a_fixed_prompt_with_a_unique_id(monkeypatch, tmp_path) -> None:
    from campaigns.store import Store

    url = f"sqlite:///{tmp_path}/campaigns.sqlite3"
    monkeypatch.setenv("GOVBOT__CAMPAIGNS__DB_URL", url)
    settings.reload()
    try:
        config = make_config()
        store = Store(config, url)
        spec = make_spec(config, opening="您好，这里是东湖社区。", closing="谢谢，再见。")
        campaign = store.create_campaign(spec, NOW)["id"]
        store.close()
        found = {p.id: p.text for p in fixed_prompts()}
        assert len(found) == len(fixed_prompts())
        assert found[f"campaigns.{campaign}.opening"] == "您好，这里是东湖社区。"
        assert found[f"campaigns.{campaign}.q.temperature"] == spec.script[0].text
        assert found[f"campaigns.{campaign}.machine_message"] == spec.machine_message != ""
        assert found["campaigns.kind.satisfaction_callback.q.satisfaction"].startswith("对办理结果满意请按1")
        assert found["campaigns.dialler.goodbye_dnc"] == settings.section("campaigns")["goodbye_dnc"]
        assert {p.id for p in speech_prompts.catalogue()} >= set(found)  # speech.prompts finds the provider
    finally:
        monkeypatch.undo()
        settings.reload()


def test_a_campaigns_machine_message_is_one_of_its_fixed_prompts() -> None:
    config = make_config()
    spec = make_spec(config, machine_message="您好，这里是东湖社区，稍后再来电。")
    assert ("machine_message", "您好，这里是东湖社区，稍后再来电。") in list(spec_parts(spec))
    assert "您好，这里是东湖社区，稍后再来电。" in spec_texts(spec)  # the dialler warms it before its first call
    default = make_spec(config)  # the kind's own message
    assert dict(spec_parts(default))["machine_message"] == kinds.get("health_check").machine_message
    assert "machine_message" not in dict(spec_parts(make_spec(config, machine_message="")))  # nothing to play


def test_every_kinds_machine_message_and_the_staff_goodbye_are_listed(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("GOVBOT__CAMPAIGNS__DB_URL", f"sqlite:///{tmp_path}/campaigns.sqlite3")
    settings.reload()
    try:
        found = {p.id: p.text for p in fixed_prompts()}
    finally:
        monkeypatch.undo()
        settings.reload()
    for kind in kinds.kinds().values():
        assert found[f"campaigns.kind.{kind.name}.machine_message"] == kind.machine_message
    assert found["campaigns.dialler.goodbye_callback_staff"] == settings.section("campaigns")["goodbye_callback_staff"]
