"""The dialler posts a call-back's rating once the call is recorded (campaigns/dialler.py → campaigns/ratings.py):
a real SQLite store, the dialler's real AudioSocket server and dialogue, a stand-in AMI and a recording backend."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from campaigns.callbacks import add_callback
from campaigns.dialler import Dialler
from campaigns.dialler_config import DiallerConfig
from campaigns.ratings import SENT, RatingConfig, RatingPoster
from campaigns.store import Store
from common import settings
from common.net import free_port
from telephony.state import CallSettings
from telephony.voice import PhoneVoice
from tests.campaigns.test_dialler import WAIT_S, Line, StandInAmi, answer, originated
from tests.campaigns.test_ratings import CALL_AT, CALLBACKS, CAMPAIGNS, Recording
from tests.dispatch.embedded import wait_for
from tests.telephony.stand_ins import LOUD, QUIET, ScriptedAsr, ToneTts

CASE = "GB20260302-0042"


async def test_a_rating_given_on_the_call_goes_to_the_case_when_the_call_is_recorded(store: Store) -> None:
    event = {"service_request_id": CASE, "status": "closed", "phone": "13800138000", "service_name": "排水"}
    assert add_callback(store, event, CALL_AT, CALLBACKS) == "added"
    outbox = Recording()
    poster = RatingPoster(store, outbox, RatingConfig.load(CAMPAIGNS, rating_poll_s=3600.0), clock=lambda: CALL_AT)
    conf = DiallerConfig.load(dialler_audiosocket_port=free_port(), dialler_id="test-dialler", dialler_poll_s=0.1,
                              answer_timeout_s=3.0, digit_timeout_s=1.0)
    call_conf = replace(CallSettings.from_settings(settings.section("telephony")), endpoint_silence_ms=300)
    dialler = Dialler(store, conf, call_conf, PhoneVoice(ToneTts()), ScriptedAsr(["希望回复再快一点"]), StandInAmi,
                      clock=lambda: CALL_AT, ratings=poster)
    await dialler.start()
    stop = asyncio.Event()
    running = asyncio.create_task(dialler.run(stop))
    try:
        call_id = (await originated(dialler))["ChannelId"]
        answer(dialler, call_id)
        line = await Line.connect(dialler.conf.dialler_audiosocket_port, call_id)
        line.keys("12")  # 满意, not solved
        await line.send(LOUD, 25)  # the comment, spoken
        await line.send(QUIET, 25)
        await asyncio.wait_for(line.hung_up.wait(), WAIT_S)
        dialler.on_event("Hangup", {"Uniqueid": call_id, "Cause": "16"})
        await asyncio.to_thread(wait_for, lambda: outbox.sent, WAIT_S, "the rating of the recorded call")
        assert outbox.sent == [(CASE, 5, "电话回访：问题已解决：否；意见建议：希望回复再快一点")]
        assert [row["state"] for row in poster.rows()] == [SENT]
    finally:
        stop.set()
        await asyncio.wait_for(running, WAIT_S)
        await dialler.stop()
