"""Pure functions behind the forms: what counts as a phone number, a rating, a yes or a no.

Kept free of rasa_sdk so they are unit-tested directly, and shared by every action module.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from common import settings
from common.zh_numbers import parse_integer, spoken_digits_to_arabic

MOBILE = re.compile(r"^1[3-9]\d{9}$")
LANDLINE = re.compile(r"^0\d{2,3}\d{7,8}$")
NO_PHONE_WORDS = ("不留", "不用留", "不想留", "不方便", "不需要", "不用了", "算了", "没有电话", "匿名")
YES_WORDS = ("是", "对", "确认", "可以", "好的", "好", "行", "嗯", "没错", "提交", "要", "有")
NO_WORDS = ("不", "没", "否", "别", "取消", "算了", "无")
# English answers, matched as whole words at the start, case-insensitively (see starts_with_word):
# "no" must not catch "now", nor "y" catch "yesterday".
EN_YES_WORDS = ("yes", "yeah", "yep", "yup", "y", "ok", "okay", "sure", "correct", "that's right", "confirm",
                "submit", "go ahead", "please do", "of course", "absolutely")
EN_NO_WORDS = ("no", "nope", "nah", "n", "not", "don't", "do not", "cancel", "never mind", "nevermind", "wrong",
               "stop", "none", "nothing", "i don't", "i do not", "i haven't")
EN_NO_PHONE_WORDS = ("no phone", "no number", "rather not", "don't want to", "do not want to", "prefer not",
                     "skip", "anonymous", "anonymously")
# Free text that is really a command, not an answer to the form's question.
NOT_AN_ANSWER_INTENTS = ("request_human", "report_emergency", "goodbye", "check_ticket", "out_of_scope")


def message_text(tracker: Any) -> str:
    """What the resident just said (stripped); every action reads it the same way."""
    return (tracker.latest_message.get("text") or "").strip()


def message_intent(tracker: Any) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def message_metadata(tracker: Any) -> dict[str, Any]:
    """The channel's facts about the latest message (``phone``, ``lang``, ``call``…); {} when there are none."""
    metadata = tracker.latest_message.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def clean_phone(text: str) -> str | None:
    """A dialable number from what the resident typed or said, or None if it is not one.

    Accepts 138 1234 5678, 138-1234-5678, +86 13812345678, 幺三八…, 010-12345678.
    """
    digits = re.sub(r"[\s\-－—()（）]", "", spoken_digits_to_arabic(text))
    digits = re.sub(r"^(\+?86)(?=1[3-9]\d{9}$)", "", digits)
    match = re.search(r"(?<!\d)(1[3-9]\d{9}|0\d{9,11})(?!\d)", digits)
    if not match:
        return None
    number = match.group(1)
    return number if MOBILE.match(number) or LANDLINE.match(number) else None


def starts_with_word(text: str, words: tuple[str, ...]) -> bool:
    """Whether ``text`` begins with one of ``words`` as a whole word, ignoring case (for English answers)."""
    pattern = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.match(rf"(?:{pattern})(?![a-z'])", text.strip().lower().replace("’", "'")) is not None


def declines_phone(text: str) -> bool:
    lowered = text.lower().replace("’", "'")
    return any(word in text for word in NO_PHONE_WORDS) or any(word in lowered for word in EN_NO_PHONE_WORDS)


def mask_phone(number: str) -> str:
    return f"{number[:3]}****{number[-4:]}" if len(number) >= 7 else "****"


MAX_LOCATION_GAP = 2  # characters (与, 的, a space) allowed between two location pieces


def merge_locations(text: str, entities: list[dict], min_confidence: float = 0.0) -> str | None:
    """One place from the entity extractor's location pieces: 幸福路 + 长安街交叉口 → 幸福路与长安街交叉口.

    Chinese place names often come back split at 与/和/的 or a space; the resident meant one place,
    so pieces separated by at most MAX_LOCATION_GAP characters are joined from the original text.
    The place must start with a piece the extractor is sure of (``min_confidence``): a lone unsure piece is
    usually a word like 走路, and asking for the place is better than a wrong one.
    """
    pieces = sorted((e["start"], e["end"], float(e.get("confidence_entity", 1.0))) for e in entities
                    if e.get("entity") == "location" and "start" in e and "end" in e)
    while pieces and pieces[0][2] < min_confidence:
        pieces.pop(0)
    spans = [(start, end) for start, end, _ in pieces]
    if not spans:
        values = [str(e["value"]) for e in entities if e.get("entity") == "location" and e.get("value")
                  and "start" not in e]
        return values[0] if values else None
    start, end = spans[0]
    for next_start, next_end in spans[1:]:
        if next_start - end > MAX_LOCATION_GAP:
            break
        end = max(end, next_end)
    return text[start:end].strip() or None


def place_mentioned(text: str, entities: list[dict]) -> str | None:
    """The place in a message, as the forms read it (confidence floor from settings)."""
    return merge_locations(text, entities, float(settings.section("actions").get("location_min_confidence", 0.7)))


@lru_cache(maxsize=8)
def _ticket_syntax(backend: str, prefix: str, pattern: str, fmt: str) -> tuple[re.Pattern[str], str]:
    from dispatch.backends import reference_syntax

    return reference_syntax({"backend": backend, "ticket_prefix": prefix, "client_reference_pattern": pattern,
                             "client_reference_format": fmt})


def ticket_syntax() -> tuple[re.Pattern[str], str]:
    """The configured backend's ticket-number pattern and canonical format (the backend owns its syntax)."""
    conf = settings.section("dispatch")
    return _ticket_syntax(str(conf.get("backend") or ""), str(conf.get("ticket_prefix") or ""),
                          str(conf.get("client_reference_pattern") or ""),
                          str(conf.get("client_reference_format") or ""))


def find_ticket_id(text: str) -> str | None:
    """A ticket number from typed or spoken forms ("G B 二零二六一一二三 杠 零零零一", "gb 2026 1123 0001"):
    the backend's number (its pattern, its canonical form) or the outbox's provisional TMP-… reference."""
    from dispatch.outbox.model import PROVISIONAL

    compact = re.sub(r"\s+", "", spoken_digits_to_arabic(text)).upper()
    compact = re.sub(r"[杠横—－_]", "-", compact)
    pattern, fmt = ticket_syntax()
    found = [m for m in (pattern.search(compact), PROVISIONAL.search(compact)) if m]
    if not found:
        return None
    match = min(found, key=lambda m: m.start())
    if match.re is PROVISIONAL or not fmt:
        return match.group(0)
    return fmt.format(**match.groupdict())


# "尾号5678", "手机后四位 5678", "后4位是5678", "last four digits 5678", "ending in 5678".
LAST_DIGITS = re.compile(
    r"(?:尾号|后四位|后4位|末四位|末4位|last\s*(?:four|4)(?:\s*digits?)?|ending(?:\s*in)?)\D{0,6}?(\d{4})(?!\d)",
    re.IGNORECASE)


def find_last_digits(text: str) -> str:
    """The last four digits of a phone number the resident gave with a case number ("" when none)."""
    match = LAST_DIGITS.search(spoken_digits_to_arabic(text))
    return match.group(1) if match else ""


def verified_phone(tracker: Any) -> str | None:
    """The resident's phone as the channel vouches for it. The gateway passes ``metadata.phone`` only from
    trusted clients (the voice bot's caller id, a platform that verified the number) and drops it from
    anyone else, so this is an identity, unlike a number typed into the conversation."""
    return clean_phone(str(message_metadata(tracker).get("phone") or ""))


RATING_WORDS = {"好评": 5, "非常满意": 5, "很满意": 5, "满意": 4, "中评": 3, "一般": 3, "还行": 3,
                "不满意": 2, "差评": 1, "很差": 1, "非常不满意": 1,
                "excellent": 5, "very satisfied": 5, "satisfied": 4, "average": 3, "not satisfied": 2,
                "not very satisfied": 2, "dissatisfied": 2, "unsatisfied": 2, "terrible": 1}


def parse_rating(text: str) -> int | None:
    """1–5 from 五分 / 5星 / 好评 / 差评 / 不满意…; longest matching phrase wins (不满意 before 满意)."""
    match = re.search(r"([0-9一二两三四五])\s*(?:分|星|颗星|stars?\b|points?\b|/\s*5|out of 5)", text, re.IGNORECASE)
    if match:
        value = parse_integer(match.group(1))
        if value is not None and 1 <= value <= 5:
            return value
    for word in sorted(RATING_WORDS, key=len, reverse=True):
        if word in text.lower():
            return RATING_WORDS[word]
    bare = re.fullmatch(r"\s*([1-5])\s*", text)
    return int(bare.group(1)) if bare else None


def yes_or_no(text: str, intent: str | None) -> bool | None:
    """The resident's yes/no, from the intent when NLU is sure, else from the words."""
    if intent == "affirm":
        return True
    if intent == "deny":
        return False
    stripped = text.strip()
    if any(stripped.startswith(word) for word in NO_WORDS) or starts_with_word(stripped, EN_NO_WORDS):
        return False
    if any(stripped.startswith(word) for word in YES_WORDS) or starts_with_word(stripped, EN_YES_WORDS):
        return True
    return None
