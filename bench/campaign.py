"""Campaign dialling throughput: a health-check campaign of N residents through C channels, end to end.

What runs: the real Asterisk (``telephony.teststack``, free ports, its own data dir), the real dialler
(:class:`campaigns.dialler.Dialler`: the store, AMI Originate, AMD in the dialplan, the AudioSocket
dialogue) and one sipp UAS playing every resident (:mod:`bench.campaign_residents`: answers and presses
keys, answers with a fever, busy 486, never answers, hangs up mid-call, answering machine — chosen by the
number). Speech is the tests' stand-ins (a tone as long as the text, a scripted recogniser), so what is
measured is the dialling machinery, not Whisper or the Mandarin voice.

Why the calls are short: keys are pressed 2.5 s after the answer (a key cuts the prompt and ``say`` skips
prompts while keys wait), the ring timeout is ``--ring-timeout`` (5 s, below the campaign minimum, which
the bench lowers), and each slot has one attempt, so every resident reaches a final state without waiting
for the retry interval. At N=1000 and 20 channels that keeps the floor near four minutes.

Figures, all from the store afterwards: ``seconds`` = first dial to the last final state; ``floor_seconds``
= the sum over attempts of dialled→ended (ringing + connected) divided by the channels; ``lost`` =
residents without a final state; ``duplicated`` = slots with two answered attempts; ``answers_lost`` =
answers sipp pressed (its log) that the store does not hold as sent.

    python -m bench.campaign                    # N=1000, 20 channels (make bench-campaign N=… CHANNELS=…)
    python -m bench.campaign --residents 50 --channels 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import tempfile
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bench.campaign_residents import BEHAVIOURS, MIX, Residents, behaviour_of, phone_of
from bench.report import table, write
from campaigns.config import CampaignsConfig
from campaigns.dialler import Dialler
from campaigns.dialler_ami import DiallerAmi
from campaigns.dialler_config import DiallerConfig
from campaigns.states import FINAL_SLOT_STATES, OUTCOMES
from campaigns.store import Store
from campaigns.store.schema import attempts, slots, targets
from campaigns.targets import Target
from campaigns.validation import parse_spec
from common import settings
from common.net import free_port, free_udp_port
from telephony.state import CallSettings
from telephony.testphone import sipp_media_port
from telephony.teststack import stack_env, start_asterisk, stop_process
from telephony.voice import PhoneVoice
from tests.telephony.stand_ins import ScriptedAsr, ToneTts

log = logging.getLogger("bench.campaign")
WINDOW = ["00:00", "23:59"]  # the bench may run at any hour (its campaign zone puts that hour at noon)
POLL_S = 0.1  # the dialler's claim poll (2 s in settings): a free channel is refilled at once
PROGRESS_S = 0.5  # how often the bench looks at the store for the end of the campaign
PRINT_S = 10.0  # how often it prints the progress
FLOOR_TOLERANCE = 0.10  # the goal: seconds within 10 % of floor_seconds
MAX_CALL_S = 60.0  # a resident hangs up a call that lasts longer (a stuck call ends, and is counted)


def daytime_zone(now: datetime) -> str:
    """A fixed-offset zone in which ``now`` falls in the noon hour.

    Why: the slot "at this minute" ends with the day's window (23:59 at the latest), so a run started at 23:58 in the
    service's own zone had one minute to dial everyone and failed; at noon the window is hours away at any hour
    of the run. (Etc/GMT names count the other way: Etc/GMT-8 is UTC+8.)"""
    hours_east = 12 - now.astimezone(timezone.utc).hour  # -11 … +12
    return f"Etc/GMT{-hours_east:+d}" if hours_east else "Etc/UTC"


def spec_data(channels: int, ring_timeout_s: int, now: datetime) -> dict[str, Any]:
    """The health-check campaign: one slot at this minute, one attempt, the window all day (in ``daytime_zone``)."""
    zone = daytime_zone(now)
    clock = now.astimezone(ZoneInfo(zone)).strftime("%H:%M")
    return {"name": f"bench-campaign-{int(time.time())}", "kind": "health_check",
            "schedule": {"times": [clock], "window": WINDOW, "blocked_dates": [], "timezone": zone},
            "retry": {"attempts": 1}, "max_channels": channels, "ring_timeout_s": ring_timeout_s}


def residents(count: int) -> list[Target]:
    return [Target(row=index + 2, name=f"居民{index}", phone=phone_of(index), address=f"幸福路{index}号",
                   community="东湖社区", grid=f"网格{index % 3}") for index in range(count)]


def settle_env(args: argparse.Namespace, data_dir: Path) -> dict[str, str]:
    """Free ports for Asterisk, and the campaign limits the bench needs (a short ring, enough channels)."""
    limits = settings.section("campaigns")
    env = stack_env(data_dir)
    env["GOVBOT__CAMPAIGNS__RING_TIMEOUT_MIN_S"] = str(min(args.ring_timeout, int(limits["ring_timeout_min_s"])))
    env["GOVBOT__CAMPAIGNS__MAX_CHANNELS_CAP"] = str(max(args.channels, int(limits["max_channels_cap"])))
    env["GOVBOT__LOGGING__LEVEL"] = "WARNING"
    return env


async def open_slots(store: Store, campaign_id: int) -> tuple[int, int]:
    """(slots planned, slots not yet in a final state) of the campaign."""
    def count() -> tuple[int, int]:
        with store.engine.connect() as conn:
            states = conn.execute(select(slots.c.state).where(slots.c.campaign_id == campaign_id)).scalars().all()
        return len(states), sum(1 for state in states if state not in FINAL_SLOT_STATES)

    return await asyncio.to_thread(count)


async def run_campaign(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    config = CampaignsConfig.load()
    store = Store(config, args.db_url or f"sqlite:///{work}/campaigns.sqlite3")
    try:
        sipp_port = free_udp_port()  # sipp's SIP is UDP; its media ports come in pairs (sipp_media_port)
        people = Residents(work / "residents", sipp_port, sipp_media_port(), MAX_CALL_S)
        people.folder.mkdir()
        await people.start()
        try:
            campaign_id = await dial_everyone(args, store, config, sipp_port)
        finally:
            await people.stop()
        return figures(store, campaign_id, args, people.pressed())
    finally:
        store.close()


async def dial_everyone(args: argparse.Namespace, store: Store, config: CampaignsConfig, sipp_port: int) -> int:
    """Create and start the campaign, run the dialler until every slot is final; returns the campaign id."""
    conf = DiallerConfig.load(dialler_audiosocket_port=free_port(), dialler_id="bench", dialler_channels=args.channels,
                              dialler_poll_s=POLL_S, dialler_originate_interval_s=args.originate_interval,
                              dialler_channel=f"PJSIP/govbot-trunk/sip:{{dial}}@127.0.0.1:{sipp_port}")
    telephony = settings.section("telephony")

    def ami(on_event):
        return DiallerAmi.for_dialler(telephony, conf.ami_reconnect_s, conf.ami_reconnect_max_s, on_event)

    dialler = Dialler(store, conf, CallSettings.from_settings(telephony), PhoneVoice(ToneTts()), ScriptedAsr([]), ami)
    stop = asyncio.Event()
    try:
        await dialler.start()
        deadline = time.monotonic() + args.max_seconds
        while not dialler.ami.connected:  # logged in: Asterisk has booted
            if time.monotonic() > deadline:
                raise RuntimeError("AMI did not connect")
            await asyncio.sleep(PROGRESS_S)
        now = datetime.now(timezone.utc)
        spec = parse_spec(spec_data(args.channels, args.ring_timeout, now), config)
        campaign_id = int(store.create_campaign(spec, now)["id"])
        store.add_targets(campaign_id, residents(args.residents), now)
        store.set_state(campaign_id, "start", now)
        runner = asyncio.create_task(dialler.run(stop), name="dialler")
        printed = 0.0
        while True:
            planned, still_open = await open_slots(store, campaign_id)
            if planned and not still_open:
                break
            if runner.done():
                runner.result()  # the dialler's own failure, raised here
            if time.monotonic() > deadline:
                log.warning("stopped after %.0f s with %d slots open", args.max_seconds, still_open)
                break
            if time.monotonic() - printed >= PRINT_S:
                print(f"  {planned - still_open}/{args.residents} residents final", flush=True)
                printed = time.monotonic()
            await asyncio.sleep(PROGRESS_S)
        stop.set()
        await runner
        return campaign_id
    finally:
        await dialler.stop()


def figures(store: Store, campaign_id: int, args: argparse.Namespace,
            pressed: dict[str, list[str]]) -> dict[str, Any]:
    """The issue's JSON fields, from the store (and sipp's log of the keys it pressed)."""
    with store.engine.connect() as conn:
        people = {row.id: row.phone for row in conn.execute(
            select(targets.c.id, targets.c.phone).where(targets.c.campaign_id == campaign_id))}
        slot_rows = conn.execute(select(slots).where(slots.c.campaign_id == campaign_id)).mappings().all()
        tries = conn.execute(select(attempts).where(attempts.c.campaign_id == campaign_id)).mappings().all()
    final_by_target = Counter(s["target_id"] for s in slot_rows if s["state"] in FINAL_SLOT_STATES)
    lost = sum(1 for target in people if final_by_target[target] != 1)
    answered_per_slot = Counter(a["slot_id"] for a in tries if a["outcome"] and OUTCOMES[a["outcome"]].answered)
    duplicated = sum(1 for count in answered_per_slot.values() if count > 1)
    dialled = [a for a in tries if a["dialed_at"] is not None and a["ended_at"] is not None]
    busy_s = sum((a["ended_at"] - a["dialed_at"]).total_seconds() for a in dialled)
    waits = [(a["dialed_at"] - a["claimed_at"]).total_seconds() for a in dialled]
    refills = refill_gaps(dialled, args.channels)
    ends = [s["updated_at"] for s in slot_rows if s["state"] in FINAL_SLOT_STATES]
    first = min((a["dialed_at"] for a in dialled), default=None)
    seconds = (max(ends) - first).total_seconds() if ends and first else float("nan")
    answers_sent = answers_lost = 0
    stored: dict[str, dict[str, Any]] = {}  # phone → every answer its attempts recorded
    for attempt in tries:
        stored.setdefault(people[attempt["target_id"]], {}).update(json.loads(attempt["answers"] or "{}"))
    for national, presses in pressed.items():
        behaviour = behaviour_of(national)
        held = stored.get("+86" + national, {})
        for _ in presses:
            for question, value in behaviour.answers.items():
                answers_sent += 1
                if held.get(question, {}).get("value") != value:
                    answers_lost += 1
    floor = busy_s / args.channels
    unexpected = sum(1 for a in tries if a["outcome"] and a["outcome"] != behaviour_of(people[a["target_id"]]).outcome)
    outcomes = Counter(a["outcome"] or a["state"] for a in tries)
    mix = Counter(behaviour_of(phone).name for phone in people.values())
    return {"residents": len(people), "channels": args.channels, "seconds": round(seconds, 2),
            "floor_seconds": round(floor, 2), "over_floor": round(seconds / floor - 1, 3) if floor else None,
            "attempts": len(tries), "final_states": dict(Counter(s["state"] for s in slot_rows)),
            "outcomes": dict(outcomes), "unexpected_outcomes": unexpected, "lost": lost, "duplicated": duplicated,
            "answers_sent": answers_sent, "answers_lost": answers_lost,
            "mean_attempt_s": round(busy_s / len(dialled), 2) if dialled else None,
            "mean_concurrency": round(busy_s / seconds, 2) if seconds == seconds and seconds > 0 else None,
            "mean_claim_to_dial_s": round(sum(waits) / len(waits), 3) if waits else None,
            "mean_refill_s": round(sum(refills) / len(refills), 3) if refills else None,
            "abnormal": sum(1 for s in slot_rows if s["abnormal"]),
            "behaviours": dict(mix), "ring_timeout_s": args.ring_timeout, "db": store.engine.dialect.name,
            "pacing_floor_seconds": round(len(dialled) * args.originate_interval, 2),
            "settings": {"poll_s": POLL_S, "originate_interval_s": args.originate_interval}}


def refill_gaps(dialled: list[Any], channels: int) -> list[float]:
    """Seconds from a call's end to the next dial on the channel it freed (the dialler's own delay).

    The k-th dial after the first ``channels`` takes the channel the (k - channels)-th end freed, so the gap is
    their difference; a dial before that end (a channel never full) counts as no gap.
    """
    dials = sorted(a["dialed_at"] for a in dialled)
    ends = sorted(a["ended_at"] for a in dialled)
    return [max((dial - end).total_seconds(), 0.0) for dial, end in zip(dials[channels:], ends, strict=False)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=1000, help="residents to call (default 1000)")
    parser.add_argument("--channels", type=int, default=20, help="concurrent channels (default 20)")
    parser.add_argument("--ring-timeout", type=int, default=5, help="ring seconds before no answer (default 5)")
    parser.add_argument("--originate-interval", type=float, default=None,
                        help="seconds between two Originates (default: [campaigns] dialler_originate_interval_s)")
    parser.add_argument("--db-url", default="", help="campaign store (default: SQLite in a temp dir)")
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="give up after this long")
    args = parser.parse_args(argv)
    if args.originate_interval is None:
        args.originate_interval = float(settings.section("campaigns")["dialler_originate_interval_s"])
    if args.originate_interval < 0:
        parser.error("--originate-interval 不能为负数")
    for name, value in (("--residents", args.residents), ("--channels", args.channels),
                        ("--ring-timeout", args.ring_timeout)):
        if value < 1:
            parser.error(f"{name} 须为正整数")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        work = Path(tmp)
        with settings.overrides(settle_env(args, work)):
            proc = start_asterisk()
            try:
                result = asyncio.run(run_campaign(args, work))
            finally:
                stop_process(proc)
    goal = (result["lost"] == result["duplicated"] == result["answers_lost"] == 0
            and result["over_floor"] is not None and result["over_floor"] <= FLOOR_TOLERANCE)
    result["goal_met"] = goal
    rows = [(key, result[key]) for key in ("residents", "channels", "seconds", "floor_seconds", "over_floor",
                                           "pacing_floor_seconds", "attempts", "mean_attempt_s", "mean_concurrency",
                                           "mean_claim_to_dial_s", "mean_refill_s", "abnormal",
                                           "unexpected_outcomes", "lost", "duplicated", "answers_sent",
                                           "answers_lost", "goal_met")]
    rows += [(f"final: {state}", count) for state, count in sorted(result["final_states"].items())]
    rows += [(f"outcome: {name}", count) for name, count in sorted(result["outcomes"].items())]
    print(table(rows, f"Campaign bench: {result['residents']} residents, {result['channels']} channels, "
                      f"mix {MIX} over {len(BEHAVIOURS)} behaviours"))
    print(f"wrote {write('campaign', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
