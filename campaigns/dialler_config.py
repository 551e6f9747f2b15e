"""The dialler's settings (the ``dialler_*``, ``ami_*`` and dialogue keys of ``[campaigns]``) as one typed object.

Why separate from :class:`campaigns.config.CampaignsConfig`: the store, the API and the CLI never need them,
and a dialler test builds its own (``load(**overrides)``) without touching the store's limits.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Any

from common import settings
from common.typed_settings import SettingsError, from_section

SECTION = "campaigns"


@dataclass(frozen=True)
class DiallerConfig:
    dialler_host: str
    dialler_audiosocket_port: int
    dialler_health_port: int
    dialler_id: str
    dialler_channels: int
    dialler_poll_s: float
    dialler_originate_interval_s: float
    dialler_renew_s: float
    dialler_call_grace_s: float
    dialler_answer_grace_s: float
    dialler_channel: str
    dialler_context: str
    ami_reconnect_s: float
    ami_reconnect_max_s: float
    amd_notsure_is_machine: bool
    alert_service_code: str
    answer_timeout_s: float
    digit_timeout_s: float
    max_outbound_call_s: float
    reask_prefix: str
    goodbye_dnc: str
    goodbye_callback: str
    goodbye_unclear: str
    dnc_phrases: tuple[str, ...]
    callback_phrases: tuple[str, ...]
    yes_phrases: tuple[str, ...]
    no_phrases: tuple[str, ...]
    identity_question: str
    goodbye_wrong_person: str
    callback_periods: dict[str, str]
    goodbye_callback_at: str
    goodbye_callback_staff: str
    non_answer_phrases: tuple[str, ...]
    choice_phrases: dict[str, list[str]]
    sound_match: bool
    sound_max_distance: float
    sound_margin: float
    sound_near_cost: float
    sound_yes_blockers: tuple[str, ...]
    answer_hotwords: bool
    answer_hotwords_corroborate: float

    @classmethod
    def load(cls, conf: dict[str, Any] | None = None, **overrides: Any) -> DiallerConfig:
        made = from_section(cls, settings.section(SECTION) if conf is None else conf, SECTION, **overrides)
        if "{dial}" not in made.dialler_channel:
            raise SettingsError(f"[{SECTION}] dialler_channel: must contain {{dial}}")
        if "{name}" not in made.identity_question:
            raise SettingsError(f"[{SECTION}] identity_question: must contain {{name}}")
        if "{time}" not in made.goodbye_callback_at:
            raise SettingsError(f"[{SECTION}] goodbye_callback_at: must contain {{time}}")
        periods = made.callback_periods
        if not isinstance(periods, dict) or not all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(clock))
                                                    for clock in periods.values()):
            raise SettingsError(f"[{SECTION}] callback_periods: expected a table of part of the day → \"HH:MM\"")
        return made

    @property
    def name(self) -> str:
        """This process's name in the store's leases."""
        return self.dialler_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def fixed_texts(self) -> list[str]:
        return [self.reask_prefix, self.goodbye_dnc, self.goodbye_callback, self.goodbye_unclear,
                self.goodbye_wrong_person, self.goodbye_callback_staff]
