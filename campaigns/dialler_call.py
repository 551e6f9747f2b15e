"""One answered campaign call on its AudioSocket connection: the dialogue's ears and voice.

Why not telephony's ``CallSession``: that one is a conversation with the assistant (every turn goes to the
gateway); a campaign call is a fixed questionnaire. What is shared is reused as it is: the AudioSocket
framing, the energy-endpointed :class:`~telephony.listener.Listener` on the shared ASR pool, the 20 ms
:class:`~telephony.player.Player` and :class:`~telephony.voice.PhoneVoice` (fixed prompts from the speech
package's PromptCache, warmed at start so every campaign sentence is rendered once).

Keys first: a key stops the prompt at once and is the answer (one key; a number is typed digits with ``*``
as the decimal point, ended by ``#`` or ``[campaigns] digit_timeout_s``). Talking over a prompt for
``[telephony] barge_in_ms`` stops it too.

An answering machine (``AMD()`` said MACHINE) hears the campaign's ``machine_message`` through
:meth:`OutboundCall.announce`: played to its end, the line not listened to (nobody answers a recording, and the
machine's beep or noise must not cut the message short nor wake the recogniser).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from campaigns.answer_ears import AnswerEars
from campaigns.dialler_config import DiallerConfig
from campaigns.dialler_script import CallEnded, Heard
from campaigns.model import END_KEY, Question
from speech.base import AsrEngine
from speech.normalize import as_said, numbers_to_digits
from telephony import audiosocket
from telephony.asr_pool import AsrPool
from telephony.audiosocket import Kind, ProtocolError
from telephony.listener import Listener, Utterance
from telephony.player import Player
from telephony.state import CallSettings
from telephony.voice import PhoneVoice, sentences

log = logging.getLogger(__name__)
CLOSE_TIMEOUT_S = 1.0  # Asterisk gets this long to take our hang-up frame


@dataclass
class Key:
    digit: str


class OutboundCall:
    """The :class:`~campaigns.dialler_script.CallIO` of one AudioSocket connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, voice: PhoneVoice,
                 asr: AsrEngine, pool: AsrPool, call_conf: CallSettings, conf: DiallerConfig) -> None:
        self.reader, self.writer, self.voice = reader, writer, voice
        self.call_conf, self.conf = call_conf, conf
        self.events: asyncio.Queue[Utterance | Key | None] = asyncio.Queue()  # None: the line is gone
        self.ears = AnswerEars(asr, conf)  # the question being asked: a second hearing with its answers as hotwords
        self.listener = Listener(self.ears, call_conf, self.events.put_nowait, pool)
        self.player = Player(writer, audiosocket.FRAME_MS / 1000)
        self.gone = False
        self.deaf = False  # an answering machine: its audio and keys are ignored
        self.uuid = ""
        self._receiver: asyncio.Task[None] | None = None

    async def handshake(self) -> str:
        """The call's UUID (the first AudioSocket frame); the dialler finds the attempt by it."""
        first = await asyncio.wait_for(audiosocket.read_frame(self.reader), self.call_conf.handshake_timeout_s)
        if first is None or first.kind is not Kind.UUID:
            raise ProtocolError("the first AudioSocket frame must carry the call's UUID")
        self.uuid = str(first.uuid).lower()
        self._receiver = asyncio.create_task(self._receive(), name=f"campaign-rx-{self.uuid[:8]}")
        return self.uuid

    # -- CallIO ---------------------------------------------------------------------------------
    def expect(self, question: Question) -> None:
        self.ears.question = question

    async def say(self, text: str) -> None:
        if self.gone:
            raise CallEnded()
        if not self.events.empty():
            return  # the resident already answered (keys first): do not talk over them
        self.player.reset(True)
        due: float | None = None
        parts = [text] if text in self.voice.cache else sentences(text) or [text]  # a warmed prompt: whole
        for part in parts:
            frames = await self.voice.frames(part)
            if self.player.interrupted or self.gone:
                break
            sent, due = await self.player.play(frames, due)
            if sent < len(frames):
                break
        if self.gone:
            raise CallEnded()

    async def announce(self, text: str) -> None:
        """Play ``text`` whole to an answering machine (nothing it sends interrupts it)."""
        self.deaf = True
        while not self.events.empty():  # what it sent before the verdict is no answer either
            if self.events.get_nowait() is None:
                raise CallEnded()
        await self.say(text)

    async def hear(self, question: Question) -> Heard:
        keys = ""
        while True:
            timeout = self.conf.digit_timeout_s if keys else self.conf.answer_timeout_s
            try:
                event = await asyncio.wait_for(self._next_event(), timeout)
            except asyncio.TimeoutError:
                if self.listener.busy:
                    continue  # the resident is still talking or being recognised
                return Heard(keys=keys)
            if event is None:
                raise CallEnded()
            if isinstance(event, Key):
                if question.type != "number":
                    return Heard(keys=event.digit)
                if event.digit == END_KEY:
                    return Heard(keys=keys)
                keys += event.digit
            elif event.text and not keys:
                said = as_said(event.text)
                return Heard(text=numbers_to_digits(said), said=said)

    async def _next_event(self) -> Utterance | Key | None:
        return await self.events.get()

    # -- the line -------------------------------------------------------------------------------
    async def _receive(self) -> None:
        barge_in_s = self.call_conf.barge_in_ms / 1000
        try:
            while True:
                frame = await audiosocket.read_frame(self.reader)
                if frame is None or frame.kind in (Kind.HANGUP, Kind.ERROR):
                    break
                if self.deaf:
                    continue
                if frame.kind is Kind.AUDIO:
                    self.listener.feed(frame.payload)
                    if self.player.speaking and self.listener.speech_seconds() >= barge_in_s:
                        self.player.interrupt()
                elif frame.kind is Kind.DTMF:
                    self.player.interrupt()
                    self.events.put_nowait(Key(frame.digit))
        except (ProtocolError, ConnectionError) as exc:
            log.warning("campaign call %s: %s", self.uuid[:8], exc)
        self.gone = True
        self.player.stop()
        self.events.put_nowait(None)

    async def close(self) -> None:
        """Hang up (if the resident has not) and release the recogniser."""
        if self._receiver is not None:
            self._receiver.cancel()
            await asyncio.gather(self._receiver, return_exceptions=True)
        await self.listener.close()
        if not self.writer.is_closing():
            try:
                self.writer.write(audiosocket.hangup())
                await asyncio.wait_for(self.writer.drain(), CLOSE_TIMEOUT_S)
            except (ConnectionError, asyncio.TimeoutError):
                pass
            self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), CLOSE_TIMEOUT_S)
        except (ConnectionError, asyncio.TimeoutError):
            pass
