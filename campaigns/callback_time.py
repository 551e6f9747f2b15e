"""When a resident who said "稍后再打" wants the call-back: the time in their words, read against the call's instant.

Why pure (text and instant in, datetime out): the call dialogue (:mod:`campaigns.dialler_script`) asks it once,
and the tests hold a table of phrasings and the datetime each means — no clock, no store. Numerals are
:mod:`common.zh_numbers`' (the temperatures' parsing); a transcript may mix them with Arabic digits
(下午3点, 15:30, 20分钟后). Read the transcript *before* ``speech.normalize`` turned its numbers into digits:
that step is for quantities and writes 十二点三十分 as ``12.3十分``.

What it understands, in this order:

- a delay: 过半个小时, 一个小时以后, 一个半小时后, 二十分钟后, 一刻钟以后 → the call's instant plus that;
- a clock time: 三点, 三点半, 三点一刻, 三点二十(分), 15:30, 15点30分, with a part of the day (上午, 下午, 晚上,
  …) and a day (今天, 明天, 后天, 今晚, 明早) when said;
- a part of the day alone (中午, 傍晚, 明天上午): its usual time, ``[campaigns] callback_periods``;
- anything else (等会儿, 稍后, 晚一点) → None: the store's default delay (``callback_default_minutes``).

An hour's reading (三点: 03:00 or 15:00): with a part of the day, the one nearest that part's usual time (下午三点
→ 15:00, 中午一点 → 13:00, 晚上十二点 → 24:00); without one, the morning hour unless it is already past, then the
afternoon's (三点 said at 10:00 → 15:00; 十点 said at 09:00 → 10:00). A clock time already past today, with no
day said, is the next day's (三点 said at 16:00 → 15:00 tomorrow): whether that is still inside the slot is the
retry policy's question (:func:`campaigns.retry.decide` ends the slot, "约定时间已超出本时段的呼叫时间").
A time in the past (今天上午十点 said at 16:00, 中午 said at 14:00) → None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import cn2an

from common import zh_numbers

HOURS_PER_DAY, MINUTES_PER_HOUR, HALF_DAY = 24, 60, 12
HALF_HOUR, QUARTER = 30, 15
_NUMERAL = "".join(zh_numbers.DIGITS) + "十"
_NUMBER = rf"[0-9]{{1,2}}|[{_NUMERAL}]{{1,3}}"
_FULLWIDTH = str.maketrans("０１２３４５６７８９：", "0123456789:")
# A delay: 半个小时 / 一个半小时 / 二十分钟 / 20分钟后 / 一刻钟; a bare 分 only before 后 (三点二十分 is a clock time).
_DELAY = re.compile(rf"(?<![点时:0-9{_NUMERAL}])(?P<num>[0-9]{{1,3}}|[{_NUMERAL}]{{1,4}}|半)个?(?P<half>半)?个?"
                    r"(?P<unit>小时|钟头|分钟|分(?=以后|之后|后))"
                    rf"|(?P<quarters>[一两三])刻钟")
_CLOCK = re.compile(rf"(?P<hour>{_NUMBER})\s*(?:点|时|:)\s*"
                    rf"(?:(?P<half>半)|(?P<quarters>[一三])刻|(?P<minute>[0-9]{{1,2}}|[{_NUMERAL}]{{1,3}})分?)?")
# 晚一点 / 早一点 / 快一点 / 有一点: "a bit", not one o'clock.
_NOT_AN_HOUR_AFTER = "晚早快慢稍有差"
# Day words: (days from today, the part of the day they imply).
DAYS: dict[str, tuple[int, str | None]] = {
    "今天": (0, None), "今日": (0, None), "今晚": (0, "晚上"), "明天": (1, None), "明日": (1, None),
    "明早": (1, "早上"), "明晚": (1, "晚上"), "后天": (2, None),
}
# How a time is said back (下午三点半): the part of the day an hour belongs to, from that hour on.
SPOKEN_PARTS = ((0, "凌晨"), (5, "早上"), (9, "上午"), (12, "中午"), (13, "下午"), (18, "晚上"))
SPOKEN_DAYS = {1: "明天", 2: "后天"}


def wanted_time(text: str, now: datetime, zone: str, periods: Mapping[str, str]) -> datetime | None:
    """The call-back instant (aware UTC) the resident asked for in ``text``, said at ``now``; None: no time said.

    ``zone``: the campaign's time zone (its clock times are read there); ``periods``: a part of the day →
    its usual "HH:MM" (中午 → 12:00), also what an hour said with that part is read against.
    """
    text = re.sub(r"\s+", "", text.translate(_FULLWIDTH))
    if not text:
        return None
    delay = _delay(text)
    if delay is not None:
        return (now + delay).astimezone(timezone.utc) if delay > timedelta(0) else None
    local_now = now.astimezone(ZoneInfo(zone))
    offset, implied = next(((days, part) for word, (days, part) in DAYS.items() if word in text), (None, None))
    part = next((word for word in sorted(periods, key=len, reverse=True) if word in text), implied)
    clock = _clock(text)
    day = local_now + timedelta(days=offset or 0)  # 明天三点 is read as if said at this time tomorrow
    if clock is None:
        if part is None and offset is None:
            return None  # 等会儿, 稍后: no time said
        # 中午 / 明天上午: the part's usual time; 明天 alone: this time tomorrow
        minutes = _minutes_of(periods[part]) if part else local_now.hour * MINUTES_PER_HOUR + local_now.minute
        return _future(_at(day, minutes), local_now)
    hour, minute = clock
    if part is None and hour < HALF_DAY:
        morning, afternoon = (_at(day, (hour + shift) * MINUTES_PER_HOUR + minute) for shift in (0, HALF_DAY))
        found = next((at for at in (morning, afternoon) if at > day), None)
        if found is None and offset is None:
            found = afternoon + timedelta(days=1)  # 三点 said at 16:00: tomorrow's 15:00
        return _future(found, local_now)
    at = _at(day, _read_hour(hour, part, periods) * MINUTES_PER_HOUR + minute)
    if at <= local_now and offset is None:
        at += timedelta(days=1)  # a clock time already past today, no day said: tomorrow's
    return _future(at, local_now)


def _at(day: datetime, minutes: int) -> datetime:
    """``minutes`` after the local midnight of ``day`` (24:00 is the next midnight)."""
    return day.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(minutes=minutes)


def _future(at: datetime | None, local_now: datetime) -> datetime | None:
    return at.astimezone(timezone.utc) if at is not None and at > local_now else None


def _delay(text: str) -> timedelta | None:
    match = _DELAY.search(text)
    if match is None:
        return None
    if match.group("quarters"):
        return timedelta(minutes=QUARTER * zh_numbers.DIGITS[match.group("quarters")])
    count = 0.5 if match.group("num") == "半" else zh_numbers.parse_integer(match.group("num"))
    if count is None:
        return None
    count += 0.5 if match.group("half") else 0
    unit = match.group("unit")
    return timedelta(hours=count) if unit in ("小时", "钟头") else timedelta(minutes=count)


def _clock(text: str) -> tuple[int, int] | None:
    """(hour as said, minute) of the first clock time in ``text``."""
    for match in _CLOCK.finditer(text):
        said = match.group("hour")
        start = match.start()
        if said in ("一", "1") and start and text[start - 1] in _NOT_AN_HOUR_AFTER:
            continue
        if text[match.end("hour"):].startswith("点点"):
            continue  # 一点点: a little
        hour = zh_numbers.parse_integer(said)
        if match.group("half"):
            minute: int | None = HALF_HOUR
        elif match.group("quarters"):
            minute = QUARTER * zh_numbers.DIGITS[match.group("quarters")]
        elif match.group("minute"):
            minute = zh_numbers.parse_integer(match.group("minute"))
        else:
            minute = 0
        if hour is None or minute is None or not 0 <= hour <= HOURS_PER_DAY or not 0 <= minute < MINUTES_PER_HOUR:
            continue
        return hour, minute
    return None


def _read_hour(hour: int, part: str | None, periods: Mapping[str, str]) -> int:
    """下午三点 → 15: of the hour and the hour twelve later, the one nearest the part's usual time (ties: as said)."""
    if part is None or hour > HALF_DAY:
        return hour
    usual = _minutes_of(periods[part]) // MINUTES_PER_HOUR

    def distance(candidate: int) -> int:
        apart = abs(candidate % HOURS_PER_DAY - usual)
        return min(apart, HOURS_PER_DAY - apart)

    later = hour + HALF_DAY
    return later if distance(later) < distance(hour) else hour


def _minutes_of(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * MINUTES_PER_HOUR + int(minutes)


def spoken(at: datetime, now: datetime, zone: str) -> str:
    """``at`` as the confirmation says it: 下午三点, 上午十点十五分, 中午十二点半, 明天上午九点零五分."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    days = (local.date() - now.astimezone(tz).date()).days
    day = SPOKEN_DAYS.get(days, "" if days <= 0 else f"{cn2an.an2cn(local.month)}月{cn2an.an2cn(local.day)}日")
    part = next(name for start, name in reversed(SPOKEN_PARTS) if local.hour >= start)
    hour = local.hour % HALF_DAY or HALF_DAY
    hour_words = "两" if hour == 2 else cn2an.an2cn(hour)
    if local.minute == 0:
        minute_words = ""
    elif local.minute == HALF_HOUR:
        minute_words = "半"
    else:
        minute_words = ("零" if local.minute < 10 else "") + cn2an.an2cn(local.minute) + "分"
    return f"{day}{part}{hour_words}点{minute_words}"
