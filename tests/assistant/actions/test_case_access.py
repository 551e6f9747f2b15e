"""Who sees what of a case, and who may rate it: the actions against the real embedded dispatch server.

A reporter files a complaint through the action; staff work the case through the staff API; then
strangers and the reporter ask about it and rate it. Case numbers are sequential, so naming one must
not open it: a stranger sees the public fields unless they add the last four digits of the case's
contact phone, and only the reporter (same sender, or the verified phone) rates it, once.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import backends, make_tracker, render
from rasa_sdk.executor import CollectingDispatcher

from assistant.actions.complaint import ActionSubmitComplaint
from assistant.actions.tickets import ActionCheckTicket, ActionRateService
from tests.dispatch.embedded import Embedded

REPORTER, STRANGER = "web:alice", "web:mallory"
PHONE = "13812345678"
DESCRIPTION, PLACE, NOTE = "小区门口下水道堵了，污水冒出来", "幸福路", "维修班组下午到场疏通"
COMPLAINT = {"complaint_confirmed": True, "complaint_service_code": "drainage", "complaint_phone": PHONE,
             "complaint_description": DESCRIPTION}
HOUSE_NUMBERS = itertools.count(1)  # one address per case, so the server does not merge them as duplicates


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    from common.services import APP_PYTHON

    if not APP_PYTHON.exists():
        pytest.skip("the application environment (embedded dispatch server) is not there")
    embedded = Embedded(tmp_path_factory.mktemp("dispatch")).start()
    yield embedded
    embedded.stop()


def outbox_of(server: Embedded, tmp_path: Path, name: str = "a") -> backends:
    """The actions' settings for one action-server process: its own outbox file, the server's secrets."""
    outbox_dir = tmp_path / f"outbox-{name}"
    outbox_dir.mkdir(exist_ok=True)
    return backends(server.data_dir, port=server.port, client_base_url="",
                    outbox_db_url=f"sqlite:///{outbox_dir}/outbox.sqlite3")


async def file_case(server: Embedded) -> str:
    """The reporter files the complaint; a dispatcher assigns it with a note."""
    dispatcher = CollectingDispatcher()
    slots = {**COMPLAINT, "complaint_location": f"{PLACE} {next(HOUSE_NUMBERS)} 号"}
    await ActionSubmitComplaint().run(dispatcher, make_tracker("确认提交", "affirm", slots=slots,
                                                                sender_id=REPORTER), {})
    reference = dispatcher.messages[-1]["reference"]
    assert reference.startswith("GB"), dispatcher.messages
    server.staff(reference, "assign", department="water", note=NOTE)
    return reference


async def check(text: str, sender: str, **metadata: str) -> list[str]:
    """What the resident reads after asking: each message rendered as Rasa would."""
    dispatcher = CollectingDispatcher()
    await ActionCheckTicket().run(dispatcher, make_tracker(text, "check_ticket", sender_id=sender,
                                                           metadata=metadata or None), {})
    return [render(message)["text"] for message in dispatcher.messages]


async def rate(text: str, sender: str, reference: str) -> str:
    dispatcher = CollectingDispatcher()
    await ActionRateService().run(dispatcher, make_tracker(text, "rate_service", sender_id=sender,
                                                           slots={"last_ticket_id": reference}), {})
    return dispatcher.messages[-1]["response"]


def shows_details(said: list[str]) -> bool:
    return all(any(part in line for line in said) for part in (DESCRIPTION, PLACE, NOTE))


def shows_nothing_private(said: list[str]) -> bool:
    return not any(part in line for line in said for part in (DESCRIPTION, PLACE, NOTE, PHONE, "5678"))


async def test_a_stranger_naming_the_number_sees_only_public_fields(server: Embedded, tmp_path: Path) -> None:
    with outbox_of(server, tmp_path):
        reference = await file_case(server)
        said = await check(f"查询工单 {reference}", STRANGER)
    assert said[0].startswith(f"工单 {reference}：处理中") and "排水/污水" in said[0]
    assert shows_nothing_private(said), said
    assert "后四位" in said[-1] and reference in said[-1]  # how to see more


async def test_the_right_last_four_digits_open_the_case_and_wrong_ones_do_not(
        server: Embedded, tmp_path: Path) -> None:
    with outbox_of(server, tmp_path):
        reference = await file_case(server)
        right = await check(f"查询工单 {reference} 尾号5678", STRANGER)
        spoken = await check(f"查一下工单 {reference}，手机后四位五六七八", STRANGER)
        wrong = await check(f"查询工单 {reference} 尾号5679", STRANGER)
    assert shows_details(right) and shows_details(spoken), (right, spoken)
    assert shows_nothing_private(wrong) and "不符" in wrong[-1], wrong


async def test_the_check_works_for_a_case_whose_outbox_row_is_in_another_process(
        server: Embedded, tmp_path: Path) -> None:
    with outbox_of(server, tmp_path, "a"):
        reference = await file_case(server)
    with outbox_of(server, tmp_path, "b"):  # another action server: it never saw this ticket
        public = await check(f"查询工单 {reference}", STRANGER)
        right = await check(f"查询工单 {reference} 尾号5678", STRANGER)
        wrong = await check(f"查询工单 {reference} 尾号0000", STRANGER)
        reporter = await check(f"查询工单 {reference}", REPORTER)
    assert shows_nothing_private(public) and shows_nothing_private(wrong)
    assert shows_details(right) and shows_details(reporter)


async def test_guessing_the_digits_is_cut_off(server: Embedded, tmp_path: Path) -> None:
    with outbox_of(server, tmp_path):
        reference = await file_case(server)
        for guess in range(5):
            assert shows_nothing_private(await check(f"查询工单 {reference} 尾号{guess:04d}", STRANGER))
        after = await check(f"查询工单 {reference} 尾号5678", STRANGER)
    assert shows_nothing_private(after) and "不符" in after[-1]


async def test_the_verified_phone_is_the_reporter_on_any_channel(server: Embedded, tmp_path: Path) -> None:
    with outbox_of(server, tmp_path):
        reference = await file_case(server)
        listed = await check("查我的工单", "voice:call-7", phone=PHONE)  # the voice bot vouches for the number
        by_number = await check(f"查询工单 {reference}", "voice:call-7", phone=PHONE)
        nobody = await check("查我的工单", STRANGER)
    assert reference in listed[0] and NOTE in listed[0]
    assert shows_details(by_number)
    assert reference not in nobody[0] and "没有查到" in nobody[0]


async def test_only_the_reporter_rates_and_only_once(server: Embedded, tmp_path: Path) -> None:
    with outbox_of(server, tmp_path):
        reference = await file_case(server)
        server.staff(reference, "close", result="已疏通")
        assert await rate("5分", STRANGER, reference) == "utter_rating_not_reporter"
        assert await rate(f"工单 {reference} 1分 尾号5678", STRANGER, reference) == "utter_rating_not_reporter"
        assert server.details(reference)["ratings"] == []
        assert await rate("5分", REPORTER, reference) == "utter_rating_thanks"
        assert await rate("4分", REPORTER, reference) == "utter_rating_already_rated"
    assert [r["score"] for r in server.details(reference)["ratings"]] == [5]
