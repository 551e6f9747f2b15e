"""The campaigns' fixed prompts as `python -m speech prompts` lists them: kinds', stored campaigns', the dialler's."""

from __future__ import annotations

from campaigns.prompts import fixed_prompts
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
        assert found["campaigns.kind.satisfaction_callback.q.satisfaction"].startswith("对办理结果满意请按1")
        assert found["campaigns.dialler.goodbye_dnc"] == settings.section("campaigns")["goodbye_dnc"]
        assert {p.id for p in speech_prompts.catalogue()} >= set(found)  # speech.prompts finds the provider
    finally:
        monkeypatch.undo()
        settings.reload()
