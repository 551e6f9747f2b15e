"""Building a :class:`CampaignSpec` from what an operator wrote (API body, YAML/JSON file), or saying which field
is wrong.

Why one validator for create, edit and start: the store keeps only specs that passed it, and ``start``
runs it again against the current settings (a lowered channel cap must stop a campaign that asks for more).
Each error names the field as a path (``schedule.window``, ``script[1].keys``), which the API returns as
``{"error": {"code": "invalid_field", "message": ..., "field": ...}}``.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaigns import kinds
from campaigns.abnormal import NUMBER_OPS, VALUE_OPS
from campaigns.config import CampaignsConfig
from campaigns.model import ANSWER_TYPES, NO, YES, CampaignSpec, Condition, Question, RetryPolicy, Schedule
from campaigns.schedule import CLOCK_FORMAT, minutes_of

QUESTION_ID = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
DTMF_DIGITS = frozenset("0123456789")  # '*' and '#' belong to number entry
CALLER_ID = re.compile(r"^\+?\d{3,20}$")
MERGED_SECTIONS = ("schedule", "retry")  # an edit may send only some keys of these
# What an operator may change on a stored campaign (campaigns/store/campaigns.py: update_campaign).
EDITABLE = ("name", "opening", "closing", "script", "schedule", "retry", "max_channels", "ring_timeout_s", "caller_id",
            "abnormal", "machine_message")
# Sent again unchanged (a whole campaign file) is fine; changed, refused, with why.
FIXED = {"kind": "活动类型不能修改（脚本、报表和免打扰名单都按类型区分），请新建活动",
         "opt_out_key": "退订键不能修改：已接到电话的居民被告知的是原来的键"}


class SpecError(ValueError):
    """One invalid field of a campaign (``field`` is its path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def merge(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """An edit applied to a stored spec: top-level keys replace, ``schedule``/``retry`` keys merge."""
    merged = {**current, **patch}
    for name in MERGED_SECTIONS:
        if isinstance(current.get(name), dict) and isinstance(patch.get(name), dict):
            merged[name] = {**current[name], **patch[name]}
    return merged


def edit_spec(current: dict[str, Any], changes: Any, config: CampaignsConfig) -> CampaignSpec:
    """The stored spec ``current`` with an operator's partial ``changes``, validated as a whole like a new one.

    Why validated whole: a change is only valid with the rest (a new window must still hold the daily times,
    a shorter script must still hold the abnormal rule's questions), and the error names the field either way.
    """
    if not isinstance(changes, dict) or not changes:
        raise SpecError("body", "请给出要修改的字段（如 {\"schedule\": {\"times\": [\"09:00\"]}}）")
    for key, value in changes.items():
        if key in FIXED:
            if value != current.get(key):
                raise SpecError(key, FIXED[key])
        elif key not in EDITABLE:
            raise SpecError(str(key), f"不能修改的字段（可修改：{'、'.join(EDITABLE)}）")
        elif value is None:
            raise SpecError(key, "不能为空（不改就不要写这个字段）")
    return parse_spec(merge(current, {k: v for k, v in changes.items() if k not in FIXED}), config)


def parse_spec(data: Any, config: CampaignsConfig) -> CampaignSpec:
    """A valid spec from ``data``, with the kind's and the settings' defaults filled in; else SpecError."""
    if not isinstance(data, dict):
        raise SpecError("body", "活动定义须为 JSON/YAML 对象")
    name = _text(data, "name", config.max_campaign_name_chars, required=True)
    kind_name = data.get("kind")
    kind = kinds.get(str(kind_name)) if kind_name else None
    if kind is None:
        raise SpecError("kind", f"活动类型须为 {' / '.join(kinds.kinds())} 之一")
    opening = _text(data, "opening", config.max_prompt_chars, default=kind.opening)
    if not opening:
        raise SpecError("opening", "该类型的活动须填写开场白（通知内容）")
    closing = _text(data, "closing", config.max_prompt_chars, default=kind.closing)
    # For answering machines (played once, then hang up); "" plays nothing.
    machine_message = _text(data, "machine_message", config.max_prompt_chars, default=kind.machine_message)
    script_given = "script" in data
    script = _script(data.get("script", list(kind.script)), config)
    opt_out = str(data.get("opt_out_key", config.opt_out_key))
    if opt_out not in DTMF_DIGITS:
        raise SpecError("opt_out_key", "退订键须为 0–9 中的一个数字键")
    for index, question in enumerate(script):
        if opt_out in question.keys:
            raise SpecError(f"script[{index}].keys", f"按键 {opt_out} 已用作退订键（opt_out_key）")
    known = {q.id for q in script}
    default_rule = [c for c in kind.abnormal if c["question"] in known] if script_given else list(kind.abnormal)
    abnormal = _conditions(data.get("abnormal", default_rule), script)
    max_channels = _integer(data, "max_channels", config.default_channels, 1, config.max_channels_cap,
                            f"不能超过全局并发上限 {config.max_channels_cap}")
    ring = _integer(data, "ring_timeout_s", config.ring_timeout_s, config.ring_timeout_min_s,
                    config.ring_timeout_max_s, f"须在 {config.ring_timeout_min_s}–{config.ring_timeout_max_s} 秒之间")
    caller_id = str(data.get("caller_id", config.caller_id) or "")
    if caller_id and not CALLER_ID.match(caller_id):
        raise SpecError("caller_id", "主叫号码只能包含数字（可带 +）")
    return CampaignSpec(name=name, kind=kind.name, opening=opening, closing=closing, script=script,
                        schedule=_schedule(data.get("schedule"), config), retry=_retry(data.get("retry"), config),
                        max_channels=max_channels, ring_timeout_s=ring, caller_id=caller_id, opt_out_key=opt_out,
                        abnormal=abnormal, machine_message=machine_message)


def _text(data: dict[str, Any], key: str, limit: int, required: bool = False, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise SpecError(key, "须为文本")
    value = value.strip()
    if required and not value:
        raise SpecError(key, "不能为空")
    if len(value) > limit:
        raise SpecError(key, f"不能超过 {limit} 个字")
    return value


def _integer(data: dict[str, Any], key: str, default: int, low: int, high: int, why: str) -> int:
    value = data.get(key, min(default, high))
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(key, "须为整数")
    if not low <= value <= high:
        raise SpecError(key, f"须在 {low}–{high} 之间：{why}")
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(field, "须为数字")
    return float(value)


def _script(raw: Any, config: CampaignsConfig) -> tuple[Question, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError("script", "问题列表不能为空")
    if len(raw) > config.max_questions:
        raise SpecError("script", f"问题不能超过 {config.max_questions} 个")
    questions, seen = [], set()
    for index, item in enumerate(raw):
        question = _question(item, f"script[{index}]", config)
        if question.id in seen:
            raise SpecError(f"script[{index}].id", f"问题编号 {question.id} 重复")
        seen.add(question.id)
        questions.append(question)
    return tuple(questions)


def _question(item: Any, path: str, config: CampaignsConfig) -> Question:
    if not isinstance(item, dict):
        raise SpecError(path, "每个问题须为对象（id、text、type …）")
    qid = str(item.get("id") or "")
    if not QUESTION_ID.match(qid):
        raise SpecError(f"{path}.id", "问题编号须为小写英文字母开头的标识（如 temperature）")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"{path}.text", "问题文本不能为空（按键提示在前，如“有请按1，没有请按2”）")
    if len(text) > config.max_prompt_chars:
        raise SpecError(f"{path}.text", f"不能超过 {config.max_prompt_chars} 个字")
    kind = item.get("type")
    if kind not in ANSWER_TYPES:
        raise SpecError(f"{path}.type", f"回答类型须为 {' / '.join(ANSWER_TYPES)} 之一")
    keys = item.get("keys") or {}
    if not isinstance(keys, dict) or any(str(k) not in DTMF_DIGITS or not isinstance(v, str) for k, v in keys.items()):
        raise SpecError(f"{path}.keys", "按键表须为 {\"1\": \"yes\", …}，键为 0–9 的数字")
    keys = {str(k): v for k, v in keys.items()}
    choices = item.get("choices") or {}
    if not isinstance(choices, dict) or any(not isinstance(v, str) for v in choices.values()):
        raise SpecError(f"{path}.choices", "选项须为 {\"值\": \"说明\", …}")
    low, high = item.get("min"), item.get("max")
    if kind in ("yes_no", "choice"):
        allowed = {YES, NO} if kind == "yes_no" else set(choices)
        if kind == "choice" and len(choices) < 2:
            raise SpecError(f"{path}.choices", "选择题至少要有两个选项")
        if set(keys.values()) != allowed:
            raise SpecError(f"{path}.keys", f"先按键后语音：每个回答都要有一个按键（{'、'.join(sorted(allowed))}）")
    elif keys:
        raise SpecError(f"{path}.keys", "数字题和自由回答题不用按键表（数字直接按键输入）")
    if kind == "number":
        low = None if low is None else _number(low, f"{path}.min")
        high = None if high is None else _number(high, f"{path}.max")
        if low is not None and high is not None and low >= high:
            raise SpecError(f"{path}.max", "上限须大于下限")
    label = item.get("label", "")
    unit = item.get("unit", "")
    optional = item.get("optional", False)
    if not isinstance(optional, bool):
        raise SpecError(f"{path}.optional", "须为 true 或 false")
    if optional and kind != "free":
        raise SpecError(f"{path}.optional", "只有自由回答题可以不答（按井号键或不说话即跳过）")
    return Question(id=qid, text=text.strip(), type=kind, keys=keys, choices=dict(choices) if kind == "choice" else {},
                    unit=str(unit), min=low if kind == "number" else None, max=high if kind == "number" else None,
                    label=str(label), optional=optional)


def _schedule(raw: Any, config: CampaignsConfig) -> Schedule:
    if not isinstance(raw, dict):
        raise SpecError("schedule", "须给出呼叫时间表：每日时间 times、呼叫时段 window、停呼日期 blocked_dates")
    zone = str(raw.get("timezone") or config.timezone)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SpecError("schedule.timezone", f"未知时区 {zone}") from None
    window = raw.get("window", list(config.default_window))
    if not isinstance(window, (list, tuple)) or len(window) != 2:
        raise SpecError("schedule.window", "呼叫时段须为 [\"08:30\", \"20:00\"] 形式")
    start, end = (_clock(value, "schedule.window") for value in window)
    if minutes_of(start) >= minutes_of(end):
        raise SpecError("schedule.window", "呼叫时段的开始须早于结束（不支持跨午夜）")
    times = raw.get("times")
    if not isinstance(times, list) or not times:
        raise SpecError("schedule.times", "每日呼叫时间不能为空，如 [\"09:00\", \"16:00\"]")
    parsed = []
    for index, value in enumerate(times):
        clock = _clock(value, f"schedule.times[{index}]")
        if not minutes_of(start) <= minutes_of(clock) < minutes_of(end):
            raise SpecError(f"schedule.times[{index}]", f"{clock} 不在呼叫时段 {start}–{end} 内")
        parsed.append(clock)
    if len(set(parsed)) != len(parsed):
        raise SpecError("schedule.times", "每日呼叫时间有重复")
    blocked = []
    for index, value in enumerate(raw.get("blocked_dates") or []):
        try:
            blocked.append(date.fromisoformat(str(value)))
        except ValueError:
            raise SpecError(f"schedule.blocked_dates[{index}]", f"日期须为 YYYY-MM-DD：{value}") from None
    return Schedule(times=tuple(sorted(parsed, key=minutes_of)), window=(start, end), timezone=zone,
                    blocked_dates=tuple(sorted(set(blocked))))


def _clock(value: Any, field: str) -> str:
    try:
        return datetime.strptime(str(value).strip(), CLOCK_FORMAT).strftime(CLOCK_FORMAT)
    except ValueError:
        raise SpecError(field, f"时间须为 HH:MM：{value}") from None


def _retry(raw: Any, config: CampaignsConfig) -> RetryPolicy:
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        raise SpecError("retry", "重拨策略须为对象（attempts、interval_minutes …）")
    attempts = _integer({"attempts": raw.get("attempts", config.default_attempts)}, "attempts",
                        config.default_attempts, 1, config.max_attempts, "每个时段的拨打次数")
    interval = raw.get("interval_minutes", config.default_retry_minutes)
    values = {"interval_minutes": interval,
              "busy_interval_minutes": raw.get("busy_interval_minutes", config.default_busy_retry_minutes),
              "no_answer_interval_minutes": raw.get("no_answer_interval_minutes",
                                                    config.default_no_answer_retry_minutes)}
    for key, value in values.items():
        if _number(value, f"retry.{key}") <= 0:
            raise SpecError(f"retry.{key}", "重拨间隔须大于 0 分钟")
    return RetryPolicy(attempts=attempts, **{k: float(v) for k, v in values.items()})


def _conditions(raw: Any, script: tuple[Question, ...]) -> tuple[Condition, ...]:
    if not isinstance(raw, list):
        raise SpecError("abnormal", "异常规则须为条件列表，如 [{\"question\": \"temperature\", \"op\": \">=\", "
                                    "\"value\": 37.3}]")
    by_id = {q.id: q for q in script}
    found = []
    for index, item in enumerate(raw):
        path = f"abnormal[{index}]"
        if not isinstance(item, dict):
            raise SpecError(path, "每个条件须为对象（question、op、value）")
        question = by_id.get(str(item.get("question")))
        if question is None:
            raise SpecError(f"{path}.question", f"没有编号为 {item.get('question')} 的问题")
        op, value = item.get("op"), item.get("value")
        if question.type == "free":
            raise SpecError(f"{path}.question", "自由回答题不能作为异常条件")
        ops = NUMBER_OPS if question.type == "number" else VALUE_OPS
        if op not in ops:
            raise SpecError(f"{path}.op", f"该题可用的比较：{' '.join(ops)}")
        if question.type == "number":
            value = _number(value, f"{path}.value")
        else:
            allowed = {YES, NO} if question.type == "yes_no" else set(question.choices)
            values = value if op == "in" else [value]
            if not isinstance(values, list) or not values or any(v not in allowed for v in values):
                raise SpecError(f"{path}.value", f"取值须为 {'、'.join(sorted(allowed))} 之一"
                                                 + ("（in 须为列表）" if op == "in" else ""))
        found.append(Condition(question=question.id, op=op, value=value))
    return tuple(found)
