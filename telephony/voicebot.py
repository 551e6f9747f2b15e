"""The voice bot: one asyncio session per call that Asterisk hands over through AudioSocket.

A call's path: Asterisk answers, announces the caller over AMI and connects here; the session
greets, listens (``Listener``), sends what the caller said or typed to the assistant like any other
channel (``AssistantClient``), and speaks the reply (``Player``, 20 ms per frame). The caller can
talk over a prompt (barge-in stops it), press 0 for a person or type a ticket number, stay silent
(re-prompt, then a polite goodbye) or hang up (the socket closes; everything is torn down).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from speech.base import AsrEngine
from speech.normalize import normalize
from telephony import audiosocket
from telephony.ami import AmiClient
from telephony.asr_pool import Admission, AsrPool
from telephony.assistant import AssistantClient, AssistantUnavailable, Choice
from telephony.audiosocket import Kind, ProtocolError
from telephony.calllog import CallLog
from telephony.listener import Listener, Utterance
from telephony.player import Player
from telephony.state import CallSettings, CallState
from telephony.voice import PhoneVoice, sentences

log = logging.getLogger(__name__)
TICK_S = 0.1  # how often timers (silence, digits, call length) are checked
SHUTDOWN_GRACE_S = 3.0  # calls get this long to say nothing more and close their sockets


@dataclass
class Dtmf:
    digit: str


@dataclass
class Hangup:
    reason: str


class CallSession:
    def __init__(self, bot: VoiceBot, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.bot, self.reader, self.writer = bot, reader, writer
        self.conf = bot.conf
        self.events: asyncio.Queue[Utterance | Dtmf | Hangup] = asyncio.Queue()
        self.player = Player(writer, audiosocket.FRAME_MS / 1000)
        self.listener = Listener(bot.asr, self.conf, self.events.put_nowait, bot.asr_pool)
        self.state = CallState(call_id="")
        self.calllog: CallLog | None = None
        self.last_digit_at = 0.0
        self.last_frame_at = time.monotonic()
        self.interrupted_prompt = ""
        self.phone_prompts: list[str] = []  # what the phone layer said on its own since the last turn
        self.choices: list[Choice] = []  # the open question's buttons, one key each (1, 2, …)
        self.latencies: list[float] = []

    # -- the call ------------------------------------------------------------------------------
    async def run(self) -> None:
        first = await asyncio.wait_for(audiosocket.read_frame(self.reader), self.conf.handshake_timeout_s)
        if first is None or first.kind is not Kind.UUID:
            raise ProtocolError("the first AudioSocket frame must carry the call's UUID")
        self.state.call_id = str(first.uuid)
        self.calllog = CallLog(self.bot.calls_dir, self.state.call_id)
        info = await self.bot.lookup_caller(self.state.call_id, self.conf.caller_lookup_timeout_s)
        self.state.caller = info.number if info else ""
        self.record("event", "call_started", caller=self.state.caller, channel=info.channel if info else "")
        receiver = asyncio.create_task(self._receive(), name=f"rx-{self.state.call_id}")
        try:
            if await self._wait_for_place():
                try:
                    await self.speak(self.conf.greeting)
                    await self._converse()
                finally:
                    self.bot.admission.leave()
        finally:
            receiver.cancel()
            await asyncio.gather(receiver, return_exceptions=True)
            await self.listener.close()
            await self._close()
            self.record("event", "call_ended", reason=self.state.hangup_reason or "caller_hung_up",
                        seconds=round(self.state.duration(), 1), barge_ins=self.state.barge_ins)

    async def _wait_for_place(self) -> bool:
        """Past ``max_active_calls`` the caller hears the holding message until a place is free (True), in
        arrival order, or hangs up while waiting (False)."""
        waited_since = time.monotonic()
        enter = asyncio.create_task(self.bot.admission.enter(
            lambda: self.speak(self.conf.holding_message, interruptible=False)))
        while not enter.done():
            if self.state.should_hang_up:
                enter.cancel()
                await asyncio.gather(enter, return_exceptions=True)
                return False
            await asyncio.wait({enter}, timeout=TICK_S)
        if enter.result():
            self.record("event", "admitted_after_hold", seconds=round(time.monotonic() - waited_since, 1))
            while not self.events.empty():  # what was said over the holding message is not a turn
                self.events.get_nowait()
        self.state.touch()
        return True

    async def _converse(self) -> None:
        while not self.state.should_hang_up:
            try:
                event = await asyncio.wait_for(self.events.get(), TICK_S)
            except asyncio.TimeoutError:
                await self._on_tick()
                continue
            if isinstance(event, Hangup):
                self.state.hang_up(event.reason)
            elif isinstance(event, Utterance):
                await self._on_utterance(event)
            elif isinstance(event, Dtmf):
                await self._on_digit(event.digit)

    async def _on_tick(self) -> None:
        conf, state = self.conf, self.state
        gap = time.monotonic() - self.last_frame_at
        if self.listener.speaking and gap >= conf.endpoint_silence_ms / 1000:
            # The phone stopped sending audio (silence suppression): its silence still ends the turn.
            for _ in range(conf.endpoint_silence_ms // audiosocket.FRAME_MS + 1):
                self.listener.feed(audiosocket.SILENCE_FRAME)
        if state.digits and time.monotonic() - self.last_digit_at >= conf.dtmf_digit_timeout_s:
            await self._send_digits()
        elif state.duration() >= conf.max_call_s:
            await self.speak(conf.goodbye_max_call, interruptible=False)
            state.hang_up("max_call_length")
        elif self._quiet() and state.silent_for() >= conf.silence_reprompt_s:
            if state.reprompts >= conf.max_reprompts:
                await self.speak(conf.goodbye_silence, interruptible=False)
                state.hang_up("silence")
            else:
                state.reprompts += 1
                await self.speak(conf.reprompt)

    def _quiet(self) -> bool:
        """Nobody is talking and nothing the caller did waits: not even an utterance recognised a moment ago
        (on a loaded machine the tick can come between its recognition and its turn in the queue; a
        re-prompt then talked over the caller's answer, and a caller who hung up on it was never heard)."""
        return not self.listener.busy and self.events.empty()

    async def _on_utterance(self, utterance: Utterance) -> None:
        self.state.touch()
        self.state.reprompts = 0
        if not utterance.text:
            self.record("caller", "", seconds=round(utterance.seconds, 2), recognised=False)
            await self.speak(self.conf.not_understood)
            return
        text = normalize(utterance.text)  # Simplified characters, digits: what the assistant and the log both keep
        self.record("caller", text, confidence=utterance.confidence, seconds=round(utterance.seconds, 2))
        await self.ask(text, "speech", utterance.speech_ended_at, confidence=utterance.confidence)

    async def _on_digit(self, digit: str) -> None:
        self.state.touch()
        self.record("dtmf", digit)
        self.player.interrupt()
        if digit == self.conf.handoff_digit and not self.state.digits:
            await self.ask(self.conf.handoff_message, "dtmf", time.monotonic(), handoff=True)
        elif (choice := self._choice(digit)) is not None:
            await self.ask(choice.payload, "dtmf", time.monotonic(), choice=choice.title)
        elif digit == "#":
            await self._send_digits()
        elif digit.isdigit():
            self.state.digits += digit
            self.last_digit_at = time.monotonic()

    def _choice(self, digit: str) -> Choice | None:
        """A key answering the open question's buttons, unless the caller is typing a number."""
        if self.state.digits:
            return None
        return next((choice for choice in self.choices if choice.key == digit), None)

    async def _send_digits(self) -> None:
        digits, self.state.digits = self.state.digits, ""
        if digits:
            await self.ask(digits, "dtmf", time.monotonic())

    # -- the assistant -------------------------------------------------------------------------
    def metadata(self, source: str, **extra: Any) -> dict[str, Any]:
        """Channel facts the conversation keeps: the caller's number (``phone``, as every channel names a
        resident's number) and the call's details (``call``: id, how the turn arrived, prompts)."""
        call = {"call_id": self.state.call_id, "caller": self.state.caller, "input": source,
                "interrupted_prompt": self.interrupted_prompt or None, "phone_prompts": self.phone_prompts,
                **extra}
        self.phone_prompts = []
        return {"channel": "phone", "phone": self.state.caller or None, "call": call}

    async def ask(self, message: str, source: str, turn_started: float, **extra: Any) -> None:
        """Send one turn to the assistant and speak its reply (an apology if it cannot answer)."""
        metadata = self.metadata(source, **extra)
        self.interrupted_prompt = ""
        self.choices = []
        try:
            reply = await self.bot.assistant.send(f"phone-{self.state.call_id}", message, metadata)
            text, self.choices = reply.speech, reply.choices
        except AssistantUnavailable as exc:
            log.warning("call %s: assistant unavailable: %s", self.state.call_id, exc)
            self.record("event", "assistant_unavailable", error=str(exc)[:200])
            text = self.conf.apology
        await self.speak(text or self.conf.not_understood, turn_started=turn_started)

    # -- speaking ------------------------------------------------------------------------------
    async def speak(self, text: str, interruptible: bool = True, turn_started: float | None = None) -> bool:
        """Say ``text`` sentence by sentence (the next one synthesised while one plays).

        Returns False when the caller barged in. ``turn_started`` (monotonic) records the turn
        latency: from the end of the caller's speech to the first frame of this reply.
        """
        if self.state.should_hang_up:
            return False  # the caller is gone (or the goodbye was said): say nothing more
        parts = sentences(text) or [text]
        self.player.reset(interruptible)
        self.state.bot_speaking = True
        self.record("bot", text)
        if turn_started is None:
            self.phone_prompts.append(text)  # greeting, re-prompt, apology: not the assistant's words
        pending = asyncio.create_task(self.bot.voice.frames(parts[0]))
        due: float | None = None
        spoken = 0
        try:
            for index, part in enumerate(parts):
                try:
                    frames = await pending
                except Exception as exc:  # one sentence the voice cannot say must not end the call
                    log.warning("call %s: synthesis failed for %r: %s", self.state.call_id[:8], part[:20], exc)
                    self.record("event", "tts_failed", sentence=part[:60])
                    frames = []
                if index + 1 < len(parts):
                    pending = asyncio.create_task(self.bot.voice.frames(parts[index + 1]))
                if self.player.interrupted or self.writer.is_closing() or self.state.should_hang_up:
                    break
                if turn_started is not None and index == 0 and frames:
                    self.latencies.append(time.monotonic() - turn_started)
                sent, due = await self.player.play(frames, due)
                spoken += 1 if sent == len(frames) else 0
                if sent < len(frames):
                    break
        finally:
            if not pending.done():
                pending.cancel()
            elif not pending.cancelled() and pending.exception():
                log.warning("call %s: an unspoken sentence failed to synthesise", self.state.call_id[:8])
            self.state.bot_speaking = False
            self.state.touch()
        completed = spoken == len(parts)
        if not completed and self.player.interrupted and not self.state.should_hang_up:
            self.interrupted_prompt = text
            self.state.barge_ins += 1
            self.record("event", "barge_in", prompt=text[:60])
        return completed

    # -- receiving -----------------------------------------------------------------------------
    async def _receive(self) -> None:
        barge_in_s = self.conf.barge_in_ms / 1000
        try:
            while True:
                frame = await audiosocket.read_frame(self.reader)
                if frame is None or frame.kind is Kind.HANGUP:
                    self.state.hang_up("caller_hung_up")
                    self.player.stop()  # nobody is listening any more, goodbye or not
                    self.events.put_nowait(Hangup("caller_hung_up"))
                    return
                if frame.kind is Kind.AUDIO:
                    self.last_frame_at = time.monotonic()
                    self.listener.feed(frame.payload)
                    if self.listener.speaking:
                        self.state.user_speaking = True
                        self.state.touch()
                        if self.state.bot_speaking and self.listener.speech_seconds() >= barge_in_s:
                            self.player.interrupt()
                    else:
                        self.state.user_speaking = False
                elif frame.kind is Kind.DTMF:
                    self.player.interrupt()
                    self.events.put_nowait(Dtmf(frame.digit))
                elif frame.kind is Kind.ERROR:
                    log.warning("call %s: Asterisk reported error %s", self.state.call_id, frame.payload.hex())
                    self.events.put_nowait(Hangup("asterisk_error"))
                    return
        except ProtocolError as exc:
            log.warning("call %s: %s", self.state.call_id, exc)
            self.events.put_nowait(Hangup("protocol_error"))

    async def _close(self) -> None:
        if not self.writer.is_closing():
            try:
                self.writer.write(audiosocket.hangup())
                await asyncio.wait_for(self.writer.drain(), 1.0)
            except (ConnectionError, asyncio.TimeoutError):
                pass
            self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 1.0)
        except (ConnectionError, asyncio.TimeoutError):
            pass

    def record(self, who: str, text: str, **extra: Any) -> None:
        turn = self.state.note(who, text, **extra)
        if self.calllog:
            self.calllog.write(turn)
        log.info("call %s %s: %s", self.state.call_id[:8], who, text)


class VoiceBot:
    """The AudioSocket server: accepts Asterisk's connections, one CallSession each."""

    def __init__(self, conf: CallSettings, asr: AsrEngine, voice: PhoneVoice, assistant: AssistantClient,
                 calls_dir: Path, ami: AmiClient | None = None) -> None:
        self.conf, self.asr, self.voice, self.assistant = conf, asr, voice, assistant
        self.asr_pool = AsrPool(conf.asr_threads)
        self.admission = Admission(conf.max_active_calls, conf.hold_repeat_s)
        self.calls_dir, self.ami = calls_dir, ami
        self.sessions: dict[int, CallSession] = {}
        self.calls_total = 0
        self.latencies: list[float] = []
        self.server: asyncio.Server | None = None

    async def lookup_caller(self, call_id: str, timeout_s: float):
        if self.ami is None:
            return None
        return await self.ami.caller(call_id, timeout_s if self.ami.connected else 0.0)

    async def start(self, host: str, port: int) -> asyncio.Server:
        await self.voice.warm(self.conf.prompts)
        self.server = await asyncio.start_server(self._handle, host, port)
        return self.server

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            session = CallSession(self, reader, writer)
        except Exception:
            log.exception("could not set up a call session")
            writer.close()
            return
        key = id(session)
        self.sessions[key] = session
        self.calls_total += 1
        try:
            await session.run()
        except asyncio.CancelledError:
            pass  # the server is shutting down
        except (ProtocolError, asyncio.TimeoutError, ConnectionError) as exc:
            log.warning("call ended abnormally: %s", exc or type(exc).__name__)
        except Exception:  # one broken call must not take the server down
            log.exception("call %s failed", session.state.call_id)
        finally:
            self.latencies.extend(session.latencies)
            self.sessions.pop(key, None)
            if not writer.is_closing():
                writer.close()

    async def stop(self) -> None:
        if self.server:
            self.server.close()
        for session in list(self.sessions.values()):
            session.state.hang_up("shutdown")
            session.events.put_nowait(Hangup("shutdown"))
        deadline = asyncio.get_running_loop().time() + SHUTDOWN_GRACE_S
        while self.sessions and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        if self.server:
            await self.server.wait_closed()
        self.asr_pool.close()
