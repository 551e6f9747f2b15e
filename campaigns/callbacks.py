"""满意度回访 from closed cases: a dispatch case closed with the resident's number becomes a call-back target.

Why here and not in the dispatch server: the gateway already receives every status change (the embedded
server's webhook, the outbox's poller for other Open311 servers, :mod:`gateway.notifications`), so one hook on
that path covers every backend. The resident is added to the ``satisfaction_callback`` campaign named by
``[campaigns] callback_campaign_name``, which is created from the kind's defaults on first need (and started,
``callback_autostart``). The ticket id is kept in the target's notes (``工单 <id>``, read back with
:func:`ticket_of`) so the rating the call collects can be posted to that case.

Not added: a case without a (valid) number, a resident on the kind's do-not-call list, a number already in
the campaign (the same case delivered twice, or a second case of the same resident: one call), and anything
while the campaign is stopped — an operator who stopped call-backs meant it. :func:`offer` is what the webhook
awaits: it never raises and waits at most ``callback_timeout_s``, because a campaign store that is down or
slow must not cost the resident their notification.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from campaigns.kinds.satisfaction_callback import KIND
from campaigns.phones import PhoneError, normalise
from campaigns.states import STOPPED
from campaigns.store import DuplicateName, NotFound, Store
from campaigns.targets import Target
from campaigns.validation import parse_spec
from common import settings
from common.logging import mask_pii
from common.typed_settings import from_section

log = logging.getLogger(__name__)
SECTION = "campaigns"
CLOSED = "closed"
TICKET_NOTE = "工单 {id}"
SERVICE_NOTE = "（{service}）"
TICKET_IN_NOTES = re.compile(r"^工单 (\S+?)(?:（|\s|$)")
CALLBACK_ROW = 0  # targets added here come from no file row
CALLBACK_WORKERS = 1  # one at a time: the store serialises its writes anyway
_worker = ThreadPoolExecutor(max_workers=CALLBACK_WORKERS, thread_name_prefix="campaign-callbacks")
# What offer() reports (also the log's words): only ADDED changed the store.
ADDED, ALREADY, OPTED_OUT, NO_PHONE, BAD_PHONE, NOT_CLOSED, STOPPED_CAMPAIGN, WRONG_KIND = (
    "added", "already", "opted_out", "no_phone", "bad_phone", "not_closed", "campaign_stopped", "wrong_kind")


@dataclass(frozen=True)
class CallbackConfig:
    """The call-back keys of ``[campaigns]`` (the store's own keys are :class:`campaigns.config.CampaignsConfig`)."""

    callback_campaign_name: str
    callback_times: tuple[str, ...]
    callback_autostart: bool
    callback_timeout_s: float

    @classmethod
    def load(cls, conf: Mapping[str, Any] | None = None, **overrides: Any) -> CallbackConfig:
        return from_section(cls, settings.section(SECTION) if conf is None else conf, SECTION, **overrides)


def ticket_of(notes: str) -> str | None:
    """The case a call-back target was made for (its notes as :func:`add_callback` wrote them), or None."""
    found = TICKET_IN_NOTES.match(notes or "")
    return found.group(1) if found else None


def resident_phone(event: Mapping[str, Any]) -> str:
    """The number the resident left on the case: the event's ``phone``, else the first reporter's."""
    if event.get("phone"):
        return str(event["phone"])
    for reporter in event.get("reporters") or []:
        if isinstance(reporter, Mapping) and reporter.get("phone"):
            return str(reporter["phone"])
    return ""


def add_callback(store: Store, event: Mapping[str, Any], now: datetime, conf: CallbackConfig) -> str:
    """Make the closed case's resident a call-back target (synchronous: run it off the event loop).

    Returns one of the outcome words above; store errors propagate (:func:`offer` contains them).
    """
    if event.get("status") != CLOSED:
        return NOT_CLOSED
    raw = resident_phone(event)
    if not raw:
        return NO_PHONE
    try:
        phone = normalise(raw, store.config.phone_region)
    except PhoneError:
        return BAD_PHONE
    if any(item["phone"] == phone for item in store.list_dnc(KIND.name)):
        return OPTED_OUT
    campaign = _campaign(store, conf, now)
    if campaign["kind"] != KIND.name:
        return WRONG_KIND
    if campaign["state"] == STOPPED:
        return STOPPED_CAMPAIGN
    if phone in store.existing_phones(campaign["id"]):
        return ALREADY
    try:
        store.add_targets(campaign["id"], [_target(event, phone, store)], now)
    except ValueError:
        if phone in store.existing_phones(campaign["id"]):  # a concurrent delivery of the same case won
            return ALREADY
        raise
    return ADDED


async def offer(get_store: Callable[[], Store], event: Mapping[str, Any],
                conf: CallbackConfig | None = None) -> str | None:
    """:func:`add_callback` for a status event, bounded in time; None when the store failed (logged, masked).

    ``get_store`` is called in the worker thread: opening a store that is down blocks, and raises there. The
    worker is this module's own, so a store that hangs ties up call-backs only, never the threads the rest of
    the gateway runs its blocking work in (a call-back given up on while still queued is dropped).
    """
    if event.get("status") != CLOSED:
        return NOT_CLOSED
    case = str(event.get("service_request_id") or "")
    try:
        conf = conf or CallbackConfig.load()

        def work() -> str:
            return add_callback(get_store(), event, datetime.now(timezone.utc), conf)

        outcome = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(_worker, work),
                                         conf.callback_timeout_s)
    except Exception as exc:  # any store or settings failure: the notification must still be delivered
        # The message only, never the traceback: SQL errors carry their parameters (the resident's number).
        log.warning("satisfaction call-back for case %s not recorded (%s): %s", case, type(exc).__name__,
                    mask_pii(str(exc).splitlines()[0] if str(exc) else ""))
        return None
    log.info("satisfaction call-back for case %s: %s", case, outcome)
    return outcome


def _campaign(store: Store, conf: CallbackConfig, now: datetime) -> dict[str, Any]:
    """The call-back campaign, created (and started) from the kind's defaults when there is none yet."""
    name = conf.callback_campaign_name
    try:
        return store.get_campaign(name)
    except NotFound:
        pass
    spec = parse_spec({"name": name, "kind": KIND.name, "schedule": {"times": list(conf.callback_times)}},
                      store.config)
    try:
        row = store.create_campaign(spec, now)
    except DuplicateName:  # another delivery created it a moment ago
        return store.get_campaign(name)
    log.info("created the satisfaction call-back campaign %s (%s)", row["id"], name)
    return store.set_state(row["id"], "start", now) if conf.callback_autostart else row


def _target(event: Mapping[str, Any], phone: str, store: Store) -> Target:
    config = store.config
    service = str(event.get("service_name") or "").strip()
    notes = TICKET_NOTE.format(id=str(event["service_request_id"]).strip())
    if service:
        notes += SERVICE_NOTE.format(service=service)
    name = str(event.get("name") or "").strip()
    address = str(event.get("address_string") or event.get("address") or "").strip()
    return Target(row=CALLBACK_ROW, name=name[:config.max_name_chars], phone=phone,
                  address=address[:config.max_field_chars], notes=notes[:config.max_notes_chars])
