"""Entity extraction by a character-level CRF: seconds to train where DIET took 18 minutes.

Why it replaced DIET: DIET was in the pipeline for entities only (NgramIntentClassifier does intents),
and its 100 epochs were 18.5 of the 19 minutes of `rasa train` on two cores. A linear-chain CRF over
per-character features (char_features.py) trains in about five seconds on the same data and, working
per character, finds place names whose Jieba pieces do not line up with the annotation; on the NLU
benchmark it matches or beats DIET on every entity (figures in the comment at the top of config.yml).
It also tags the pattern entities (phone, ticket, temperature) and symptoms, with the training data's
regexes and lookup tables as features, next to RegexEntityExtractor, as DIET did.

Put it after the tokenizer: JiebaTokenizer loads the service dictionary into Jieba, whose words and
parts of speech are features here. Entity roles and groups are not learnt (the data has none).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sklearn_crfsuite
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu.char_features import (
    PLACE_SUFFIXES,
    alternation,
    bio_tags,
    char_features,
    entities_from_tags,
)
from assistant.nlu.storage import persist, restore

log = logging.getLogger(__name__)
MODEL_FILE = "char_crf.joblib"


def training_patterns(training_data: TrainingData) -> list[tuple[str, str]]:
    """The data's regexes and lookup tables as (name, regex source), kept with the model so that
    inference sees the same features as training."""
    patterns = [(str(r["name"]), str(r["pattern"])) for r in training_data.regex_features]
    for table in training_data.lookup_tables:
        elements = table.get("elements")
        if isinstance(elements, list) and elements:
            patterns.append((str(table["name"]), alternation(map(str, elements)).pattern))
    return patterns


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=True)
class CharCRFEntityExtractor(GraphComponent, EntityExtractorMixin):
    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def required_packages() -> list[str]:
        return ["sklearn_crfsuite", "jieba"]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # Regularisation and iterations chosen by 5-fold cross-validation over the training data
        # (location F1); more iterations did not change it.
        return {"c1": 0.05, "c2": 0.05, "max_iterations": 100, "place_suffixes": PLACE_SUFFIXES}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
                 model: dict[str, Any] | None = None) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage, self._resource = model_storage, resource
        self._suffixes = alternation(self.config["place_suffixes"])
        self._set_model(model)

    def _set_model(self, model: dict[str, Any] | None) -> None:
        self.model = model
        self._patterns = [(name, re.compile(source, re.IGNORECASE)) for name, source in (model or {}).get(
            "patterns", [])]

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> CharCRFEntityExtractor:
        return cls(config, model_storage, resource)

    def _features(self, text: str) -> list[dict[str, Any]]:
        return char_features(text, self._patterns, self._suffixes)

    # -- training --------------------------------------------------------------------------------
    def train(self, training_data: TrainingData) -> Resource:
        if not training_data.entity_examples:
            log.warning("CharCRFEntityExtractor: no entity annotations in the training data; not trained")
            return self._resource
        self.check_correct_entity_annotations(training_data)
        self._set_model({"patterns": training_patterns(training_data)})
        examples = [m for m in self.filter_trainable_entities(training_data.nlu_examples) if m.get(TEXT)]
        crf = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=self.config["c1"], c2=self.config["c2"],
                                   max_iterations=self.config["max_iterations"], all_possible_transitions=True)
        crf.fit([self._features(m.get(TEXT)) for m in examples],
                [bio_tags(len(m.get(TEXT)), m.get(ENTITIES) or []) for m in examples])
        self._set_model({**self.model, "crf": crf})
        persist(self._model_storage, self._resource, MODEL_FILE, self.model)
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> CharCRFEntityExtractor:
        # None: trained without entity annotations
        return cls(config, model_storage, resource, restore(model_storage, resource, MODEL_FILE))

    # -- inference -------------------------------------------------------------------------------
    def process(self, messages: list[Message]) -> list[Message]:
        if self.model is None:
            return messages
        crf = self.model["crf"]
        for message in messages:
            text = message.get(TEXT)
            if not text:
                continue
            features = self._features(text)
            found = entities_from_tags(text, crf.predict_single(features), crf.predict_marginals_single(features))
            message.set(ENTITIES, message.get(ENTITIES, []) + self.add_extractor_name(found), add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
