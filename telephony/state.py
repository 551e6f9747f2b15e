"""Per-call state, and the settings that pace a conversation.

Why one dataclass per call: every processor of a call (speech detector, recogniser, player,
timers) reads and updates the same few facts — is the caller speaking, is the bot speaking, when
did anyone last speak, must we hang up — and keeping them in one visible place makes the turn
logic testable without a phone line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CallSettings:
    """The ``[telephony]`` keys the call loop needs, read once at start-up."""

    speech_threshold_dbfs: float
    speech_start_ms: int
    barge_in_ms: int
    endpoint_silence_ms: int
    preroll_ms: int
    asr_chunk_ms: int
    asr_threads: int
    max_utterance_s: float
    silence_reprompt_s: float
    max_reprompts: int
    max_call_s: float
    dtmf_digit_timeout_s: float
    gateway_timeout_s: float
    caller_lookup_timeout_s: float
    handshake_timeout_s: float
    handoff_digit: str
    handoff_message: str
    greeting: str
    reprompt: str
    goodbye_silence: str
    goodbye_max_call: str
    apology: str
    not_understood: str
    max_active_calls: int
    hold_repeat_s: float
    holding_message: str

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> CallSettings:
        kwargs = {}
        for name, kind in cls.__annotations__.items():
            value = conf[name]
            kwargs[name] = {"int": int, "float": float, "str": str}[kind](value)
        return cls(**kwargs)

    @property
    def prompts(self) -> list[str]:
        """The fixed sentences, synthesised once at start-up and cached."""
        return [self.greeting, self.reprompt, self.goodbye_silence, self.goodbye_max_call,
                self.apology, self.not_understood, self.holding_message]


@dataclass
class Turn:
    """One line of the call's transcript."""

    at: float
    who: str  # "caller" | "bot" | "dtmf" | "event"
    text: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallState:
    call_id: str
    caller: str = ""
    started: float = field(default_factory=time.monotonic)
    user_speaking: bool = False
    bot_speaking: bool = False
    last_activity: float = field(default_factory=time.monotonic)
    reprompts: int = 0
    should_hang_up: bool = False
    hangup_reason: str = ""
    digits: str = ""
    turns: list[Turn] = field(default_factory=list)
    barge_ins: int = 0

    def note(self, who: str, text: str, **extra: Any) -> Turn:
        turn = Turn(time.time(), who, text, extra)
        self.turns.append(turn)
        return turn

    def touch(self) -> None:
        """Someone spoke or pressed a key: the silence timer starts again."""
        self.last_activity = time.monotonic()

    def hang_up(self, reason: str) -> None:
        if not self.should_hang_up:
            self.should_hang_up, self.hangup_reason = True, reason

    def silent_for(self) -> float:
        return time.monotonic() - self.last_activity

    def duration(self) -> float:
        return time.monotonic() - self.started
