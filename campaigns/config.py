"""The campaigns' settings as one typed object (``[campaigns]`` of settings.toml).

Why a dataclass: every tunable is named once, a missing key fails at start-up, and tests build stores and
validators with other limits (``overrides``) without touching the global settings cache. The reading and
type checks are :func:`common.typed_settings.from_section`'s; only the fields are declared here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from common import settings
from common.typed_settings import from_section

SECTION = "campaigns"


@dataclass(frozen=True)
class CampaignsConfig:
    db_url: str
    timezone: str
    max_channels_cap: int
    default_channels: int
    default_window: tuple[str, ...]
    default_attempts: int
    max_attempts: int
    default_retry_minutes: float
    default_busy_retry_minutes: float
    default_no_answer_retry_minutes: float
    callbacks_per_slot: int
    callback_default_minutes: float
    ring_timeout_s: int
    ring_timeout_min_s: int
    ring_timeout_max_s: int
    caller_id: str
    opt_out_key: str
    phone_region: str
    lease_s: float
    max_claim_batch: int
    max_import_bytes: int
    max_import_rows: int
    max_import_errors: int
    max_name_chars: int
    max_field_chars: int
    max_notes_chars: int
    max_campaign_name_chars: int
    max_questions: int
    max_prompt_chars: int

    @classmethod
    def load(cls, conf: dict[str, Any] | None = None, **overrides: Any) -> CampaignsConfig:
        """From a ``[campaigns]`` section (default: the loaded settings), with keyword overrides (tests, CLI)."""
        made = from_section(cls, settings.section(SECTION) if conf is None else conf, SECTION, **overrides)
        ZoneInfo(made.timezone)  # an unknown zone fails here, at start-up
        return made

    @property
    def resolved_db_url(self) -> str:
        return settings.resolve_db_url(self.db_url)

    def with_(self, **changes: Any) -> CampaignsConfig:
        return replace(self, **changes)
