"""Logging that never writes a resident's phone or ID-card number in clear.

Masking sits in a logging.Filter on the root handlers, so every library's log line passes
through it, not only ours.
"""

from __future__ import annotations

import logging
import re

# Mainland ID cards: 17 digits + digit/X. Mobiles: 1[3-9] + 9 digits. Landlines: 0 + area code + number.
_ID_CARD = re.compile(r"(?<!\d)(\d{6})\d{8}(\d{3}[\dXx])(?![\dXx])")
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?\d{3,4}(\d{4})(?!\d)")


def mask_pii(text: str) -> str:
    """Replace the middle digits of ID-card and phone numbers with asterisks."""
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    return _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(2)}", text)


class PiiMaskingFilter(logging.Filter):
    """Masks the fully formatted message, so arguments interpolated later are covered too."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_pii(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def setup(service: str, level: str | None = None) -> logging.Logger:
    """Configure root logging for one service process (call once, at start-up)."""
    from common import settings

    conf = settings.section("logging")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    if conf.get("mask_pii", True):
        handler.addFilter(PiiMaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or conf.get("level", "INFO")).upper())
    return logging.getLogger(service)
