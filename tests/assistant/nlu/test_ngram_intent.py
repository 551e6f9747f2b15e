"""The n-gram intent classifier inside a real Rasa tokenizer pipeline: trains, persists, loads, ranks."""

from __future__ import annotations

from pathlib import Path

from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from assistant.nlu.ngram_intent import NgramIntentClassifier

EXAMPLES = {
    "ask_policy": ["社保卡怎么补办", "居住证要带什么材料", "医保怎么报销", "公积金怎么提取", "低保怎么申请",
                   "户口迁移去哪里办", "身份证丢了怎么补", "养老保险怎么交"],
    "file_complaint": ["楼下装修太吵了", "路灯坏了好几天", "垃圾没人清理", "小区门口乱停车", "楼道漏水了",
                       "井盖丢了很危险", "广场舞噪音太大", "流浪狗咬人了没人管"],
    "greet": ["你好", "您好", "在吗", "喂 你好", "早上好", "有人吗", "哈喽", "下午好"],
}


def tokenized(texts: list[tuple[str, str | None]], tokenizer: JiebaTokenizer) -> list[Message]:
    messages = [Message(data={"text": text, **({"intent": intent} if intent else {})}) for text, intent in texts]
    tokenizer.process(messages)
    return messages


def test_trains_persists_loads_and_ranks(tmp_path: Path) -> None:
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(graph_schema=None, model_id="test")  # type: ignore[arg-type]
    tokenizer = JiebaTokenizer.create(JiebaTokenizer.get_default_config(), storage, Resource("tok"), context)
    data = TrainingData(tokenized([(t, i) for i, ts in EXAMPLES.items() for t in ts], tokenizer))
    resource = Resource("ngram")
    classifier = NgramIntentClassifier.create({"calibration_folds": 3}, storage, resource, context)
    classifier.train(data)

    loaded = NgramIntentClassifier.load({"calibration_folds": 3}, storage, resource, context)
    unseen = tokenized([("社宝卡怎么补办呀", None), ("隔壁装修吵死了", None), ("您好啊", None)], tokenizer)
    loaded.process(unseen)
    assert [m.get("intent")["name"] for m in unseen] == ["ask_policy", "file_complaint", "greet"]
    ranking = unseen[0].get("intent_ranking")
    assert len(ranking) == 3 and abs(sum(r["confidence"] for r in ranking) - 1) < 1e-6
    assert ranking[0]["confidence"] > ranking[1]["confidence"]


def test_an_untrained_model_leaves_messages_alone(tmp_path: Path) -> None:
    storage = LocalModelStorage(tmp_path)
    context = ExecutionContext(graph_schema=None, model_id="test")  # type: ignore[arg-type]
    empty = NgramIntentClassifier.load({}, storage, Resource("never-trained"), context)
    message = Message(data={"text": "你好"})
    empty.process([message])
    assert message.get("intent") is None
