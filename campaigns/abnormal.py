"""The abnormal-answer rule: a campaign's answer is abnormal when any of its conditions holds.

Why "any" and nothing richer: the rules communities state are lists ("体温≥37.3℃，或有任一症状"); an
expression language would be one more thing to validate and explain. Each hit yields a sentence for the
alert ticket, so the grid worker reads why the resident was flagged.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from campaigns.model import CampaignSpec, Condition, Question

NUMBER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq, "!=": operator.ne,
}
VALUE_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, "in": lambda value, allowed: value in allowed,
}
OP_WORDS = {">=": "≥", ">": ">", "<=": "≤", "<": "<", "==": "为", "!=": "不为", "in": "属于"}


def holds(condition: Condition, question: Question, value: Any) -> bool:
    ops = NUMBER_OPS if question.type == "number" else VALUE_OPS
    return bool(ops[condition.op](value, condition.value))


def describe(question: Question, value: Any) -> str:
    """An answer as staff read it: 体温 37.8度, 咳嗽：是, 需要：需要买药."""
    if question.type == "number":
        return f"{question.title} {value:g}{question.unit}"
    labels = {"yes": "是", "no": "否", **question.choices}
    return f"{question.title}：{labels.get(value, value)}"


def reasons(spec: CampaignSpec, question_id: str, value: Any) -> list[str]:
    """Why the answer ``value`` to ``question_id`` is abnormal (empty: it is normal)."""
    question = spec.question(question_id)
    if question is None:
        return []
    found = []
    for condition in spec.abnormal:
        if condition.question == question_id and holds(condition, question, value):
            shown = condition.value if not isinstance(condition.value, list) else "、".join(map(str, condition.value))
            found.append(f"{describe(question, value)}（规则：{OP_WORDS[condition.op]} {shown}）")
    return found
