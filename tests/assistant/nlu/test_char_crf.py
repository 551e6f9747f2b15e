"""The character-level CRF entity extractor inside a real Jieba tokenizer pipeline: trains in-process,
persists, loads, and finds entities it was not shown (the reason it replaced DIET for entities)."""

from __future__ import annotations

import re

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu.char_crf import CharCRFEntityExtractor
from assistant.nlu.char_features import bio_tags, entities_from_tags

ANNOTATION = re.compile(r"\[(?P<text>[^\]]+)\]\{(?P<name>[^}]+)\}")
TRAINING = [
    "[幸福小区]{location}门口的垃圾没人清", "路灯坏了 在[光明路]{location}", "[人民公园]{location}里广场舞太吵了",
    "[阳光花园3栋]{location}电梯坏了", "我住[和平里]{location} 楼道灯不亮", "[建设路]{location}上有个坑",
    "[锦绣家园]{location}停车乱收费", "井盖没了 在[东湖小区]{location}", "[滨江花园5号楼]{location}漏水了",
    "下水道堵了 [金桥路]{location}那边", "[翠苑二区]{location}门口堆满垃圾", "我在[文化广场]{location} 这里很吵",
    "电话[13812345678]{phone_number} 投诉噪音", "我手机是[15900001234]{phone_number}",
    "回电[18600002222]{phone_number} 垃圾没人收", "你好", "社保卡怎么补办", "谢谢你", "我要投诉", "好的 就这样",
    "楼上太吵了", "路灯不亮", "垃圾没人收", "帮我查一下进度", "再见",
]
REGEXES = [{"name": "phone_number", "pattern": r"1[3-9]\d{9}"}]


def example(markup: str) -> Message:
    """A training message from "[surface]{entity}" markup."""
    entities, text, offset = [], "", 0
    for match in ANNOTATION.finditer(markup):
        text += markup[offset:match.start()]
        entities.append({"entity": match.group("name"), "start": len(text),
                         "end": len(text) + len(match.group("text")), "value": match.group("text")})
        text += match.group("text")
        offset = match.end()
    text += markup[offset:]
    return Message(data={"text": text, "intent": "any", **({"entities": entities} if entities else {})})


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalModelStorage, ExecutionContext, JiebaTokenizer]:
    storage = LocalModelStorage(tmp_path_factory.mktemp("storage"))
    context = ExecutionContext(graph_schema=None, model_id="test")  # type: ignore[arg-type]
    tokenizer = JiebaTokenizer.create(JiebaTokenizer.get_default_config(), storage, Resource("tok"), context)
    return storage, context, tokenizer


@pytest.fixture(scope="module")
def trained(pipeline: tuple[LocalModelStorage, ExecutionContext, JiebaTokenizer]) -> CharCRFEntityExtractor:
    storage, context, tokenizer = pipeline
    messages = [example(line) for line in TRAINING]
    tokenizer.process(messages)
    data = TrainingData(messages, regex_features=REGEXES)
    resource = Resource("char_crf")
    CharCRFEntityExtractor.create({}, storage, resource, context).train(data)
    return CharCRFEntityExtractor.load({}, storage, resource, context)


def parse(extractor: CharCRFEntityExtractor, tokenizer: JiebaTokenizer, text: str) -> list[dict]:
    message = Message(data={"text": text})
    tokenizer.process([message])
    extractor.process([message])
    return message.get("entities") or []


def test_finds_a_place_it_never_saw_by_its_characters(
        trained: CharCRFEntityExtractor, pipeline: tuple[LocalModelStorage, ExecutionContext, JiebaTokenizer]) -> None:
    # 柳岸 occurs nowhere in the training data; 小区 and the sentence around it do
    entities = parse(trained, pipeline[2], "柳岸小区门口的垃圾没人清")
    places = [e for e in entities if e["entity"] == "location"]
    assert [(e["start"], e["end"], e["value"]) for e in places] == [(0, 4, "柳岸小区")]
    assert 0.5 < places[0]["confidence_entity"] <= 1.0
    assert places[0]["extractor"] == "CharCRFEntityExtractor"


def test_the_training_regexes_travel_with_the_model(
        trained: CharCRFEntityExtractor, pipeline: tuple[LocalModelStorage, ExecutionContext, JiebaTokenizer]) -> None:
    assert trained.model is not None and trained.model["patterns"] == [("phone_number", r"1[3-9]\d{9}")]
    text = "联系电话17755556666 路灯不亮"  # a number shown in no training example
    phones = [e for e in parse(trained, pipeline[2], text) if e["entity"] == "phone_number"]
    assert [text[e["start"]:e["end"]] for e in phones] == ["17755556666"]


def test_a_message_without_entities_gets_none(
        trained: CharCRFEntityExtractor, pipeline: tuple[LocalModelStorage, ExecutionContext, JiebaTokenizer]) -> None:
    assert parse(trained, pipeline[2], "社保卡怎么补办") == []


def test_without_annotations_nothing_is_trained_and_messages_are_left_alone(
        pipeline: tuple[LocalModelStorage, ExecutionContext, JiebaTokenizer]) -> None:
    storage, context, tokenizer = pipeline
    messages = [example("你好"), example("再见")]
    tokenizer.process(messages)
    resource = Resource("char_crf_empty")
    CharCRFEntityExtractor.create({}, storage, resource, context).train(TrainingData(messages))
    loaded = CharCRFEntityExtractor.load({}, storage, resource, context)
    assert loaded.model is None
    assert parse(loaded, tokenizer, "光明路路灯坏了") == []


def test_tags_round_trip_and_stray_inside_tags_still_make_an_entity() -> None:
    text = "在 光明路 路灯坏了"
    tags = bio_tags(len(text), [{"entity": "location", "start": 1, "end": 5}])  # annotation with a space
    certain = [{tag: 1.0} for tag in tags]
    assert entities_from_tags(text, tags, certain) == [
        {"entity": "location", "start": 2, "end": 5, "value": "光明路", "confidence_entity": 1.0}]
    stray = ["O", "O", "I-location", "I-location", "I-location", "O", "O", "O", "O", "O"]
    found = entities_from_tags(text, stray, [{tag: 0.5} for tag in stray])
    assert [(e["value"], e["confidence_entity"]) for e in found] == [("光明路", 0.5)]

