"""Traditional → Simplified Chinese before tokenization, for every message and training example.

Why in the pipeline and not only in the gateway: residents type Traditional characters (樓下的路燈壞了)
and speech recognisers sometimes answer in them; Jieba's dictionary, the n-gram features and the
training data are Simplified, so a Traditional message otherwise shares few features with the same
sentence in Simplified. Doing it inside Rasa makes `/model/parse` (and the NLU benchmark) see what
the model sees. The conversion keeps every character's position, so entity offsets in the training
data stay valid: where OpenCC's phrase conversion would change the length, characters are converted
one by one instead.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from speech.normalize import to_simplified as convert  # the converter transcripts already go through


def to_simplified(text: str) -> str:
    """Simplified text of the same length as ``text`` (Simplified input comes back unchanged)."""
    if not text or text.isascii():
        return text
    converted = convert(text)
    if len(converted) == len(text):
        return converted
    singles = [convert(ch) for ch in text]
    return "".join(new if len(new) == 1 else old for old, new in zip(text, singles, strict=True))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class SimplifiedChineseNormalizer(GraphComponent):
    """Rewrites the message text in place; place it first in the pipeline, before the tokenizer."""

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SimplifiedChineseNormalizer:
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._normalize(example)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        if isinstance(text, str) and text:
            message.set(TEXT, to_simplified(text))
