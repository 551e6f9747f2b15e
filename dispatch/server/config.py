"""The dispatch server's settings as one typed object, read once when an app is created.

Why a dataclass instead of dict look-ups everywhere: every tunable is named in one place, a missing
key fails at start-up (not on the first overdue case at 3 a.m.), and tests build several apps with
different settings in one process without touching the global settings cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common import settings
from dispatch.limits import DESCRIPTION_MAX


@dataclass(frozen=True)
class DispatchConfig:
    db_url: str
    api_key: str
    staff_token: str
    jurisdiction_id: str
    timezone: ZoneInfo
    ticket_prefix: str
    catalogue_file: Path
    sla_sign_minutes: float
    sla_dispatch_minutes: float
    sla_close_hours: float
    sla_scan_interval_s: float
    supervision_department: str
    dedup_distance_m: float
    dedup_window_hours: float
    dedup_text_similarity: float
    max_description_chars: int
    max_field_chars: int
    max_transcript_chars: int
    max_body_bytes: int
    list_default_days: int
    list_max_results: int
    status_webhook_url: str
    webhook_secret: str
    webhook_timeout_s: float
    webhook_max_attempts: int
    webhook_backoff_s: float
    webhook_backoff_max_s: float
    cors_origins: tuple[str, ...]

    @classmethod
    def from_settings(cls, conf: dict[str, Any]) -> DispatchConfig:
        """Build from a ``[dispatch]`` section; ``api_key``/``staff_token`` may be given directly (tests)."""
        db_url = str(conf["db_url"])
        if "{data_dir}" in db_url or (db_url.startswith("sqlite:///") and not db_url.startswith("sqlite:////")):
            db_url = settings.resolve_db_url(db_url)
        api_key = conf.get("api_key") or settings.read_or_create_secret(conf["api_key_file"])
        staff_token = conf.get("staff_token") or _staff_token(conf)
        return cls(
            db_url=db_url,
            api_key=str(api_key),
            staff_token=str(staff_token),
            jurisdiction_id=str(conf["jurisdiction_id"]),
            timezone=ZoneInfo(str(conf["timezone"])),
            ticket_prefix=str(conf["ticket_prefix"]),
            catalogue_file=settings.resolve_path(conf["catalogue_file"]),
            sla_sign_minutes=float(conf["sla_sign_minutes"]),
            sla_dispatch_minutes=float(conf["sla_dispatch_minutes"]),
            sla_close_hours=float(conf["sla_close_hours"]),
            sla_scan_interval_s=float(conf["sla_scan_interval_s"]),
            supervision_department=str(conf["supervision_department"]),
            dedup_distance_m=float(conf["dedup_distance_m"]),
            dedup_window_hours=float(conf["dedup_window_hours"]),
            dedup_text_similarity=float(conf["dedup_text_similarity"]),
            max_description_chars=DESCRIPTION_MAX,  # not a setting: the outbox must never queue what we refuse
            max_field_chars=int(conf["max_field_chars"]),
            max_transcript_chars=int(conf["max_transcript_chars"]),
            max_body_bytes=int(conf["max_body_bytes"]),
            list_default_days=int(conf["list_default_days"]),
            list_max_results=int(conf["list_max_results"]),
            status_webhook_url=webhook_url(conf),
            webhook_secret=_webhook_secret(conf),
            webhook_timeout_s=float(conf["webhook_timeout_s"]),
            webhook_max_attempts=int(conf["webhook_max_attempts"]),
            webhook_backoff_s=float(conf["webhook_backoff_s"]),
            webhook_backoff_max_s=float(conf["webhook_backoff_max_s"]),
            cors_origins=tuple(conf["cors_origins"]),
        )


def _staff_token(conf: dict[str, Any]) -> str:
    """The dispatcher token: its own file if configured, else the product's staff token."""
    if conf.get("dispatcher_token_file"):
        return settings.read_or_create_secret(conf["dispatcher_token_file"])
    from common.web import staff_token

    return staff_token()


def webhook_url(conf: dict[str, Any]) -> str:
    """Where status changes go: ``gateway`` means our own gateway's /hooks/dispatch (follows its port)."""
    url = str(conf.get("status_webhook_url") or "")
    return settings.base_url("gateway") + "/hooks/dispatch" if url == "gateway" else url


def _webhook_secret(conf: dict[str, Any]) -> str:
    """The key that signs status webhooks (shared with the gateway); only needed when they are on."""
    if conf.get("webhook_secret"):
        return str(conf["webhook_secret"])
    if not webhook_url(conf):
        return ""
    return settings.read_or_create_secret(conf["webhook_secret_file"])
