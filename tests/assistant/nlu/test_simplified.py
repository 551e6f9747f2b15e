"""Traditional → Simplified inside the Rasa pipeline, keeping character positions."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu.simplified import SimplifiedChineseNormalizer, to_simplified


@pytest.mark.parametrize("text, expected", [
    ("樓下的路燈壞了很久了", "楼下的路灯坏了很久了"),
    ("請問這裡可以辦居住證嗎", "请问这里可以办居住证吗"),
    ("社保卡怎么补办", "社保卡怎么补办"),
    ("Hello, 13812345678", "Hello, 13812345678"),
    ("", ""),
])
def test_same_length_simplified(text: str, expected: str) -> None:
    assert to_simplified(text) == expected and len(to_simplified(text)) == len(text)


def test_training_examples_keep_their_entity_offsets() -> None:
    example = Message(data={"text": "樓下的路燈壞了", "intent": "file_complaint",
                            "entities": [{"start": 0, "end": 2, "value": "樓下", "entity": "location"}]})
    SimplifiedChineseNormalizer().process_training_data(TrainingData([example]))
    entity = example.get("entities")[0]
    assert example.get("text") == "楼下的路灯坏了"
    assert example.get("text")[entity["start"]:entity["end"]] == "楼下"


def test_messages_are_rewritten_before_the_tokenizer() -> None:
    message = Message(data={"text": "給我接個工作人員"})
    SimplifiedChineseNormalizer().process([message])
    assert message.get("text") == "给我接个工作人员"
