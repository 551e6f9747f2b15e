"""The campaign dialler: claim due attempts, Originate them through AMI, run the script, record the outcome.

One attempt's path: ``claim_due`` hands it out (a lease) → ``mark_dialing`` → AMI ``Originate`` (async, the
channel's ``ChannelId`` a fresh UUID that also names the AudioSocket call; ``GOVBOT_ATTEMPT`` carries the
attempt id; ring timeout and caller id from the claim) → the dialplan context ``govbot-outbound`` runs
``AMD()`` on answer, reports it (``GovbotAmd`` UserEvent) and hands the call to our AudioSocket server → the
dialogue (:mod:`campaigns.dialler_script`; an answering machine instead hears the campaign's ``machine_message``
once, or nothing, and is hung up on) → Asterisk's ``Hangup`` (its ``Cause``) → the outcome
(:mod:`campaigns.dialler_outcomes`) and the answers → ``record_outcome`` (a settled call-back's rating then goes
to its case, :mod:`campaigns.ratings`; "call me at 3 pm" passes the resident's time as ``callback_at``).
Leases are renewed every ``dialler_renew_s`` while calls last.

Why nothing is kept only in memory: the store is the state. AMI down → nothing is claimed (claims already
held but not dialled are released), and the telephony client reconnects with back-off. A call whose end
Asterisk never reported (AMI lost mid-call) stops being renewed: its lease runs out and the store counts the
attempt as ``lost`` and retries it like a no-answer — a dialler killed at any moment is handled the same way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from campaigns import dialler_outcomes, schedule
from campaigns.alerts import Alert
from campaigns.dialler_ami import DiallerAmi, is_amd_event
from campaigns.dialler_call import OutboundCall
from campaigns.dialler_config import DiallerConfig
from campaigns.dialler_outcomes import CallFacts
from campaigns.dialler_script import CALLBACK, CallEnded, ScriptRun, SlotTime
from campaigns.model import CampaignSpec
from campaigns.prompts import campaign_texts, spec_texts
from campaigns.ratings import RatingPoster
from campaigns.store import Claim, Store
from speech.base import AsrEngine
from telephony.ami import AmiRefused, AmiUnavailable
from telephony.asr_pool import AsrPool
from telephony.audiosocket import ProtocolError
from telephony.state import CallSettings
from telephony.voice import PhoneVoice

log = logging.getLogger(__name__)
MS_PER_S = 1000
ATTEMPT_VARIABLE = "GOVBOT_ATTEMPT"
AUDIOSOCKET_VARIABLE = "GOVBOT_AUDIOSOCKET"


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class Track:
    """One attempt in flight: what Asterisk and the dialogue said about it so far."""

    claim: Claim
    spec: CampaignSpec
    uuid: str
    facts: CallFacts = field(default_factory=CallFacts)
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)
    connected: asyncio.Event = field(default_factory=asyncio.Event)  # the AudioSocket call arrived
    amd_heard: asyncio.Event = field(default_factory=asyncio.Event)  # the GovbotAmd verdict arrived
    dialogue_done: asyncio.Event = field(default_factory=asyncio.Event)
    script: ScriptRun | None = None


class Dialler:
    def __init__(self, store: Store, conf: DiallerConfig, call_conf: CallSettings, voice: PhoneVoice,
                 asr: AsrEngine, ami_factory: Callable[[Callable[[str, dict[str, str]], None]], DiallerAmi],
                 clock: Callable[[], datetime] = utc_now, alerts: Callable[[Alert], str] | None = None,
                 ratings: RatingPoster | None = None) -> None:
        self.store, self.conf, self.call_conf, self.voice, self.asr = store, conf, call_conf, voice, asr
        self.alerts = alerts  # files an alert ticket for abnormal answers (None: the store's flag only)
        self.ratings = ratings  # posts call-back ratings to their cases (None: they wait in the store)
        self.clock, self.name = clock, conf.name
        self.ami = ami_factory(self.on_event)
        self.pool = AsrPool(call_conf.asr_threads)
        self.tracks: dict[str, Track] = {}  # by channel UUID
        self.tasks: set[asyncio.Task[None]] = set()
        self.calls_total = 0
        self.server: asyncio.Server | None = None

    # -- running -------------------------------------------------------------------------------
    async def start(self) -> None:
        await self.voice.warm(fixed_texts(self.store, self.conf))
        self.server = await asyncio.start_server(self._on_audiosocket, self.conf.dialler_host,
                                                 self.conf.dialler_audiosocket_port)
        self.ami.start()

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and place calls until ``stop`` is set; then wait for the calls in flight (they are recorded)."""
        loops = [asyncio.create_task(self._renew_loop(stop), name="renew")]
        if self.ratings is not None:
            loops.append(asyncio.create_task(self.ratings.run(stop), name="ratings"))
        try:
            while not stop.is_set():
                try:
                    await self.claim_once()
                except Exception:  # the store is down or refused: try again at the next poll
                    log.exception("claiming due attempts failed")
                try:
                    await asyncio.wait_for(stop.wait(), self.conf.dialler_poll_s)
                except asyncio.TimeoutError:
                    pass
            await asyncio.gather(*self.tasks, return_exceptions=True)
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.server:
            self.server.close()
            await self.server.wait_closed()
        await self.ami.stop()
        self.pool.close()

    async def claim_once(self) -> int:
        """Claim what is due (as many as free channels) and start placing it; returns how many were claimed."""
        room = self.conf.dialler_channels - len(self.tasks)
        if room <= 0 or not self.ami.connected:
            return 0
        claims = await asyncio.to_thread(self.store.claim_due, self.clock(), self.name, room)
        for index, claim in enumerate(claims):
            if index:
                await asyncio.sleep(self.conf.dialler_originate_interval_s)  # pacing, not a readiness wait
            task = asyncio.create_task(self._attempt_logged(claim), name=f"attempt-{claim.attempt_id}")
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(claims)

    # -- one attempt ---------------------------------------------------------------------------
    async def _attempt_logged(self, claim: Claim) -> None:
        try:
            await self._attempt(claim)
        except Exception:  # the store failed mid-attempt: the lease decides, the other calls go on
            log.exception("attempt %s failed", claim.attempt_id)

    async def _attempt(self, claim: Claim) -> None:
        if not self.ami.connected:
            await asyncio.to_thread(self.store.release, claim.attempt_id, self.name, self.clock())
            return
        spec = await self._spec(claim.campaign_id)
        if not await asyncio.to_thread(self.store.mark_dialing, claim.attempt_id, self.name, self.clock()):
            return  # the lease ran out before we could dial: the store hands it out again
        track = Track(claim, spec, str(uuid.uuid4()))
        self.tracks[track.uuid] = track
        self.calls_total += 1
        try:
            try:
                await self._originate(track)
            except (AmiRefused, AmiUnavailable) as exc:
                log.warning("attempt %s: Originate failed: %s", claim.attempt_id, exc)
                await self._record(track, "failed")
                return
            except TimeoutError:
                log.warning("attempt %s: no answer to Originate; its lease decides", claim.attempt_id)
                return
            if await self._wait_for_end(track):
                if track.script is not None:
                    track.facts.dialogue_outcome = track.script.result.outcome
                await self._record(track, dialler_outcomes.classify(track.facts, self.conf.amd_notsure_is_machine))
        finally:
            self.tracks.pop(track.uuid, None)

    async def _originate(self, track: Track) -> None:
        claim, conf = track.claim, self.conf
        fields = {"Channel": conf.dialler_channel.format(dial=claim.dial), "Context": conf.dialler_context,
                  "Exten": "s", "Priority": "1", "Async": "true", "ChannelId": track.uuid,
                  "ActionID": f"attempt-{claim.attempt_id}-{track.uuid[:8]}",
                  "Timeout": str(claim.ring_timeout_s * MS_PER_S),
                  "Variable": f"{ATTEMPT_VARIABLE}={claim.attempt_id},"
                              f"{AUDIOSOCKET_VARIABLE}={conf.dialler_host}:{conf.dialler_audiosocket_port}"}
        if claim.caller_id:
            fields["CallerID"] = claim.caller_id
        await self.ami.action("Originate", **fields)

    async def _wait_for_end(self, track: Track) -> bool:
        """Wait for the hang-up and, for a person, the dialogue; False when Asterisk's word never came."""
        limit = track.claim.ring_timeout_s + self.conf.max_outbound_call_s + self.conf.dialler_call_grace_s
        try:
            await asyncio.wait_for(track.hung_up.wait(), limit)
        except asyncio.TimeoutError:
            if not track.dialogue_done.is_set():
                log.warning("attempt %s: no hang-up heard from Asterisk; its lease decides", track.claim.attempt_id)
                return False
        if track.facts.answered and not dialler_outcomes.is_machine(track.facts.amd,
                                                                    self.conf.amd_notsure_is_machine):
            try:
                await asyncio.wait_for(track.connected.wait(), self.conf.dialler_answer_grace_s)
            except asyncio.TimeoutError:
                return True  # hung up between AMD and AudioSocket: hung up early
            await track.dialogue_done.wait()  # the socket closed with the channel: it ends promptly
        return True

    async def _record(self, track: Track, outcome: str) -> None:
        answers = track.script.result.answers if track.script else {}
        callback_at = track.script.result.callback_at if track.script and outcome == CALLBACK else None
        try:
            slot = await asyncio.to_thread(self.store.record_outcome, track.claim.attempt_id, outcome, answers,
                                           self.clock(), dialler_id=self.name, callback_at=callback_at)
        except Exception:  # the store refused or is down: the lease runs out and the store decides
            log.exception("attempt %s: could not record outcome %s", track.claim.attempt_id, outcome)
            return
        log.info("attempt %s: %s (slot %s now %s)", track.claim.attempt_id, outcome, slot["id"], slot["state"])
        if self.ratings is not None:
            self.ratings.wake()  # a settled call-back's rating goes out now
        if self.alerts is not None and answers:
            await self._alert(track)

    async def _alert(self, track: Track) -> None:
        """An alert ticket when this attempt's answers were abnormal (the store's rule said so)."""
        claim = track.claim
        attempts = await asyncio.to_thread(self.store.attempts_of, claim.slot_id)
        reasons = next((a["abnormal"] for a in attempts if a["id"] == claim.attempt_id), None)
        if not reasons:
            return
        targets = await asyncio.to_thread(self.store.list_targets, claim.campaign_id)
        target = next((t for t in targets if t["id"] == claim.target_id), {})
        try:
            reference = await asyncio.to_thread(self.alerts, Alert(claim, track.spec, tuple(reasons), target))
        except Exception:  # the outbox store failed: the slot stays flagged abnormal for staff
            log.exception("attempt %s: could not file the alert ticket", claim.attempt_id)
            return
        log.info("attempt %s: abnormal answers, alert ticket %s", claim.attempt_id, reference)

    async def _spec(self, campaign_id: int) -> CampaignSpec:
        """The campaign as stored now (an operator may have edited it); its new sentences are rendered once."""
        spec = await asyncio.to_thread(self.store.spec, campaign_id)
        await self.voice.warm(spec_texts(spec))  # texts already warm cost nothing
        return spec

    # -- Asterisk's events (on the loop) --------------------------------------------------------
    def on_event(self, name: str, fields: dict[str, str]) -> None:
        track = self.tracks.get(fields.get("Uniqueid", "").lower())
        if track is None:
            return
        if name == "OriginateResponse":
            track.facts.reason = fields.get("Reason", "").strip()
            if fields.get("Response", "").lower() == "success" or track.facts.reason == dialler_outcomes.ANSWER_REASON:
                track.facts.answered = True
        elif name == "Hangup":
            track.facts.cause = dialler_outcomes.cause_of(fields.get("Cause"))
            track.hung_up.set()
        elif is_amd_event(name, fields):
            track.facts.note_amd(fields.get("Status", ""))
            track.amd_heard.set()
            log.info("attempt %s: AMD %s (%s)", track.claim.attempt_id, track.facts.amd, fields.get("Cause", ""))

    # -- answered calls (AudioSocket) -----------------------------------------------------------
    async def _on_audiosocket(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        call = OutboundCall(reader, writer, self.voice, self.asr, self.pool, self.call_conf, self.conf)
        track: Track | None = None
        try:
            track = self.tracks.get(await call.handshake())
            if track is None:
                log.warning("AudioSocket call %s belongs to no attempt of this dialler", call.uuid[:8])
                return
            track.facts.answered = True  # Asterisk only connects an answered channel
            track.connected.set()
            try:  # the dialplan reports AMD's verdict before it connects, but over another connection (AMI)
                await asyncio.wait_for(track.amd_heard.wait(), self.conf.dialler_answer_grace_s)
            except asyncio.TimeoutError:
                log.warning("attempt %s: no AMD verdict heard; taken as a person", track.claim.attempt_id)
            if dialler_outcomes.is_machine(track.facts.amd, self.conf.amd_notsure_is_machine):
                if track.spec.machine_message:  # AMD answers after the greeting: the machine records this
                    await asyncio.wait_for(call.announce(track.spec.machine_message), self.conf.max_outbound_call_s)
                return  # never the questionnaire
            previous, slot = await asyncio.to_thread(self._slot_of, track)
            track.script = ScriptRun(track.spec, self.conf, previous, name=track.claim.name, slot=slot)
            await asyncio.wait_for(track.script.run(call), self.conf.max_outbound_call_s)
        except (CallEnded, ProtocolError, ConnectionError, asyncio.TimeoutError) as exc:
            log.info("campaign call %s ended: %s", call.uuid[:8], type(exc).__name__)
        except Exception:  # one broken call must not take the dialler down
            log.exception("campaign call %s failed", call.uuid[:8])
        finally:
            await call.close()
            if track is not None:
                track.dialogue_done.set()

    def _slot_of(self, track: Track) -> tuple[dict[str, Any], SlotTime]:
        """The slot's answers so far, and what a call-back time is promised against (in a thread: the store)."""
        claim = track.claim
        previous = self.store.slot_answers(claim.slot_id)
        callbacks = sum(1 for attempt in self.store.attempts_of(claim.slot_id) if attempt["outcome"] == CALLBACK)
        left = callbacks < self.store.config.callbacks_per_slot
        return previous, SlotTime(self.clock, slot_deadline(track.spec, claim), left)

    # -- leases ---------------------------------------------------------------------------------
    async def _renew_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.renew_once()
            try:
                await asyncio.wait_for(stop.wait(), self.conf.dialler_renew_s)
            except asyncio.TimeoutError:
                pass

    async def renew_once(self) -> list[int]:
        """Extend the leases of every call in flight; returns the attempt ids the store extended."""
        held = [track.claim.attempt_id for track in self.tracks.values()]
        if not held:
            return []
        try:
            return await asyncio.to_thread(self.store.renew, self.name, held, self.clock())
        except Exception:  # the store is down: leases may run out; the store handles that
            log.exception("could not renew %d leases", len(held))
            return []

    def status(self) -> dict[str, Any]:
        return {"status": "ok", "dialler_id": self.name, "ami_connected": self.ami.connected,
                "calls_active": len(self.tracks), "calls_total": self.calls_total}


def slot_deadline(spec: CampaignSpec, claim: Claim) -> datetime:
    """The slot's last moment as the store planned it (the next daily time or the window's end)."""
    day = date.fromisoformat(claim.day)
    plan = next((plan for plan in schedule.slots_of_day(spec.schedule, day) if plan.time == claim.time), None)
    return plan.deadline_at if plan is not None else schedule.window_of(spec.schedule, day)[1]


def fixed_texts(store: Store, conf: DiallerConfig) -> list[str]:
    """Every sentence a campaign call may say without the resident's name: rendered once, before calls."""
    return [*conf.fixed_texts, *campaign_texts(store)]
