"""A campaign file turned into a spec, or refused with the field named."""

from __future__ import annotations

import pytest

from campaigns.config import CampaignsConfig
from campaigns.model import spec_from_dict
from campaigns.validation import SpecError, parse_spec
from tests.campaigns.conftest import example


def test_the_example_gets_the_kind_defaults_and_round_trips(config: CampaignsConfig) -> None:
    spec = parse_spec(example(), config)
    assert [q.id for q in spec.script] == ["temperature", "cough", "other_symptoms", "needs"]
    assert spec.schedule.timezone == config.timezone and spec.retry.attempts == 3
    assert spec_from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(("changes", "field"), [
    ({"name": ""}, "name"),
    ({"max_channels": 31}, "max_channels"),
    ({"ring_timeout_s": 5}, "ring_timeout_s"),
    ({"schedule": {"times": []}}, "schedule.times"),
    ({"schedule": {"times": ["09:00"], "window": ["09:00", "09:00"]}}, "schedule.window"),
    ({"schedule": {"times": ["9点"]}}, "schedule.times[0]"),
    ({"schedule": {"times": ["09:00"], "blocked_dates": ["明天"]}}, "schedule.blocked_dates[0]"),
    ({"schedule": {"times": ["09:00"], "timezone": "Mars/Olympus"}}, "schedule.timezone"),
    ({"retry": {"attempts": 0}}, "attempts"),
    ({"retry": {"busy_interval_minutes": 0}}, "retry.busy_interval_minutes"),
    ({"caller_id": "abc"}, "caller_id"),
    ({"opt_out_key": "1"}, "script[1].keys"),  # 1 answers the cough question
    ({"script": [{"id": "q", "text": "好吗？", "type": "yes_no", "keys": {"1": "yes"}}]}, "script[0].keys"),
    ({"abnormal": [{"question": "nope", "op": "==", "value": "yes"}]}, "abnormal[0].question"),
    ({"abnormal": [{"question": "temperature", "op": "in", "value": 1}]}, "abnormal[0].op"),
])
def test_bad_fields_are_named(config: CampaignsConfig, changes: dict, field: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_spec(example(**changes), config)
    assert refused.value.field == field


def test_the_machine_message_defaults_to_the_kinds_is_bounded_and_may_be_empty(config: CampaignsConfig) -> None:
    from campaigns import kinds

    assert parse_spec(example(), config).machine_message == kinds.get("health_check").machine_message
    assert parse_spec(example(machine_message=""), config).machine_message == ""  # nothing played
    for bad in ("长" * (config.max_prompt_chars + 1), 42):
        with pytest.raises(SpecError) as error:
            parse_spec(example(machine_message=bad), config)
        assert error.value.field == "machine_message"
    stored = parse_spec(example(), config).to_dict()
    del stored["machine_message"]  # a campaign stored before the field existed
    assert spec_from_dict(stored).machine_message == ""
