"""The admission limit: callers above it hear the holding message and get in, in arrival order."""

from __future__ import annotations

import asyncio

import pytest

from telephony.asr_pool import Admission

REPEAT_S = 60.0  # longer than any test: the holding message is heard exactly once per waiting caller


class Line:
    """A caller: records the holding messages it heard and when it got into the conversation."""

    def __init__(self, name: str, admitted: list[str]) -> None:
        self.name, self.admitted = name, admitted
        self.held = 0
        self.hold_heard = asyncio.Event()
        self.done = asyncio.Event()

    async def hold(self) -> None:
        self.held += 1
        self.hold_heard.set()

    async def call(self, admission: Admission) -> bool:
        async with admission.place(self.hold) as waited:
            self.admitted.append(self.name)
            await self.done.wait()
        return waited


async def test_callers_within_the_limit_start_at_once_without_holding() -> None:
    admission, admitted = Admission(2, REPEAT_S), []
    lines = [Line(n, admitted) for n in "ab"]
    tasks = [asyncio.create_task(line.call(admission)) for line in lines]
    while len(admitted) < 2:
        await asyncio.sleep(0)
    assert admission.active == 2 and admission.waiting == 0
    assert [line.held for line in lines] == [0, 0]
    for line in lines:
        line.done.set()
    assert await asyncio.gather(*tasks) == [False, False]
    assert admission.active == 0


async def test_callers_above_the_limit_hear_the_holding_message_and_get_in_in_order() -> None:
    admission, admitted = Admission(1, REPEAT_S), []
    a, b, c = (Line(n, admitted) for n in "abc")
    first = asyncio.create_task(a.call(admission))
    while admitted != ["a"]:
        await asyncio.sleep(0)
    second = asyncio.create_task(b.call(admission))
    await b.hold_heard.wait()
    third = asyncio.create_task(c.call(admission))
    await c.hold_heard.wait()
    assert admission.waiting == 2 and admitted == ["a"]

    a.done.set()
    await first
    while admitted != ["a", "b"]:
        await asyncio.sleep(0)
    assert admission.active == 1 and admission.waiting == 1  # c still waits: b came first
    b.done.set()
    c.done.set()
    assert await asyncio.gather(second, third) == [True, True]
    assert admitted == ["a", "b", "c"] and (b.held, c.held) == (1, 1)
    assert admission.active == 0


async def test_a_caller_who_hangs_up_while_waiting_gives_way_to_the_next() -> None:
    admission, admitted = Admission(1, REPEAT_S), []
    a, b, c = (Line(n, admitted) for n in "abc")
    first = asyncio.create_task(a.call(admission))
    while admitted != ["a"]:
        await asyncio.sleep(0)
    gone = asyncio.create_task(b.call(admission))
    await b.hold_heard.wait()
    third = asyncio.create_task(c.call(admission))
    await c.hold_heard.wait()
    gone.cancel()  # b hangs up on the holding message
    await asyncio.gather(gone, return_exceptions=True)
    a.done.set()
    await first
    while admitted != ["a", "c"]:
        await asyncio.sleep(0)
    c.done.set()
    await third
    assert admission.active == 0 and admission.waiting == 0


async def test_the_holding_message_stops_when_the_caller_is_admitted() -> None:
    admission, admitted = Admission(1, REPEAT_S), []
    a = Line("a", admitted)
    first = asyncio.create_task(a.call(admission))
    while admitted != ["a"]:
        await asyncio.sleep(0)
    playing = asyncio.Event()
    stopped = asyncio.Event()

    async def long_message() -> None:
        playing.set()
        try:
            await asyncio.Event().wait()  # a message still playing when the place frees up
        finally:
            stopped.set()

    waiter = asyncio.create_task(admission.enter(long_message))
    await playing.wait()
    a.done.set()
    await first
    assert await waiter is True
    assert stopped.is_set()
    admission.leave()


@pytest.mark.parametrize(("limit", "repeat_s", "field"), [(0, 1.0, "max_active_calls"),
                                                         (1, 0.0, "hold_repeat_s")])
def test_bad_settings_name_the_field(limit: int, repeat_s: float, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Admission(limit, repeat_s)
