"""The resident's call-back time from their words: a table of phrasings, the instant each is said, what it means."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from campaigns.callback_time import spoken, wanted_time
from campaigns.dialler_config import DiallerConfig

ZONE = "Asia/Shanghai"
TZ = ZoneInfo(ZONE)
PERIODS = DiallerConfig.load().callback_periods  # the settings' parts of the day (中午 12:00, 傍晚 18:00, …)


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=TZ)


MORNING = local(2, 9, 5)  # Monday 09:05, as tests/campaigns/conftest.NOW
AFTERNOON = local(2, 16, 0)

TABLE: list[tuple[str, datetime, datetime | None]] = [
    # a clock time with the part of the day
    ("下午三点再打", MORNING, local(2, 15)),
    ("下午三点半再打吧", MORNING, local(2, 15, 30)),
    ("晚上七点", MORNING, local(2, 19)),
    ("今晚八点再打过来", MORNING, local(2, 20)),
    ("中午一点", MORNING, local(2, 13)),
    ("下午3点", MORNING, local(2, 15)),  # the recogniser's Arabic digits
    ("下午三点零五分", MORNING, local(2, 15, 5)),
    ("我在开会，你下午四点半再打吧", MORNING, local(2, 16, 30)),
    # an hour alone: the morning's while it is ahead, else the afternoon's
    ("三点半", MORNING, local(2, 15, 30)),
    ("十点再打", MORNING, local(2, 10)),
    ("八点", MORNING, local(2, 20)),  # 08:00 is past at 09:05
    ("三点一刻", MORNING, local(2, 15, 15)),
    ("三点二十分以后", MORNING, local(2, 15, 20)),  # 二十分 after 点 is the minute, not a delay
    ("十二点三十分", MORNING, local(2, 12, 30)),
    ("三点钟吧", MORNING, local(2, 15)),
    ("15:30", MORNING, local(2, 15, 30)),
    ("15点30分", MORNING, local(2, 15, 30)),
    # a delay
    ("过半个小时", MORNING, local(2, 9, 35)),
    ("一个小时以后", MORNING, local(2, 10, 5)),
    ("二十分钟后", MORNING, local(2, 9, 25)),
    ("20分钟后", MORNING, local(2, 9, 25)),  # as speech.normalize writes it
    ("十分钟之后再打吧", MORNING, local(2, 9, 15)),
    ("一个半小时后", MORNING, local(2, 10, 35)),
    ("两个钟头以后", MORNING, local(2, 11, 5)),
    ("一刻钟以后", MORNING, local(2, 9, 20)),
    # another day
    ("明天上午十点", MORNING, local(3, 10)),
    ("明天三点", MORNING, local(3, 15)),
    ("后天下午", MORNING, local(4, 14)),
    # a part of the day alone
    ("中午", MORNING, local(2, 12)),
    ("傍晚再打", MORNING, local(2, 18)),
    # no time said: the default delay
    ("等会儿", MORNING, None),
    ("稍后再打", MORNING, None),
    ("晚一点再打", MORNING, None),  # "a bit later", not one o'clock
    ("", MORNING, None),
    # said late in the day
    ("三点", AFTERNOON, local(3, 15)),  # past today: tomorrow's (the retry policy ends today's slot)
    ("上午十点", AFTERNOON, local(3, 10)),
    ("今天上午十点", AFTERNOON, None),  # in the past
    ("中午", AFTERNOON, None),  # in the past
    ("晚上七点", AFTERNOON, local(2, 19)),
]


@pytest.mark.parametrize(("text", "said_at", "expected"), TABLE, ids=[row[0] or "empty" for row in TABLE])
def test_the_wanted_time(text: str, said_at: datetime, expected: datetime | None) -> None:
    assert wanted_time(text, said_at, ZONE, PERIODS) == expected


def test_the_table_is_long_enough_and_the_answer_is_an_aware_instant() -> None:
    assert len(TABLE) >= 25
    found = wanted_time("下午三点", MORNING, ZONE, PERIODS)
    assert found is not None and found.utcoffset() is not None and found.hour == 7  # 15:00 in Shanghai is 07:00 UTC


@pytest.mark.parametrize(("at", "words"), [
    (local(2, 15), "下午三点"), (local(2, 15, 30), "下午三点半"), (local(2, 10, 15), "上午十点十五分"),
    (local(2, 9, 5), "上午九点零五分"), (local(2, 12, 30), "中午十二点半"), (local(2, 14), "下午两点"),
    (local(2, 19), "晚上七点"), (local(3, 10), "明天上午十点"),
])
def test_the_time_said_back(at: datetime, words: str) -> None:
    assert spoken(at, MORNING, ZONE) == words
