"""The campaigns' fixed prompts: every opening, question and closing, and the dialler's own sentences.

Why a provider for ``speech.prompts``: these sentences are the same on every call of a campaign, so they are
synthesized once into the speech package's PromptCache (``python -m speech prompts --render``, or the dialler
warming them before its first call) and an operator can replace any of them with a recording. Ids name where a
sentence comes from: ``campaigns.dialler.<key>``, ``campaigns.kind.<kind>.<part>`` (a kind's defaults) and
``campaigns.<campaign id>.<part>`` (a stored campaign's own wording); ``<part>`` is ``opening``, ``closing``,
``q.<question id>`` or ``machine_message`` (what an answering machine is left).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from campaigns import kinds
from campaigns.model import CampaignSpec, spec_from_dict
from speech.prompts import Prompt

if TYPE_CHECKING:
    from campaigns.store import Store

log = logging.getLogger(__name__)
DIALLER_KEYS = ("reask_prefix", "goodbye_dnc", "goodbye_callback", "goodbye_unclear", "goodbye_wrong_person",
                "goodbye_callback_staff")  # goodbye_callback_at names a time: synthesized per call


def spec_parts(spec: CampaignSpec) -> Iterator[tuple[str, str]]:
    """(part, text) of everything a campaign's call says, in the order it says it."""
    if spec.opening:
        yield "opening", spec.opening
    for question in spec.script:
        yield f"q.{question.id}", question.text
    if spec.closing:
        yield "closing", spec.closing
    if spec.machine_message:
        yield "machine_message", spec.machine_message


def spec_texts(spec: CampaignSpec) -> list[str]:
    return [text for _part, text in spec_parts(spec)]


def _dialler_prompts() -> list[Prompt]:
    from campaigns.dialler_config import DiallerConfig

    conf = DiallerConfig.load()
    return [Prompt(f"campaigns.dialler.{key}", getattr(conf, key)) for key in DIALLER_KEYS]


def _kind_prompts() -> list[Prompt]:
    found = []
    for kind in kinds.kinds().values():
        parts = [("opening", kind.opening), *((f"q.{q['id']}", q["text"]) for q in kind.script),
                 ("closing", kind.closing), ("machine_message", kind.machine_message)]
        found += [Prompt(f"campaigns.kind.{kind.name}.{part}", text) for part, text in parts if text]
    return found


def stored_specs() -> list[tuple[int, CampaignSpec]]:
    """Every campaign that is not stopped, from the configured store (none when it cannot be opened)."""
    from campaigns.config import CampaignsConfig
    from campaigns.store import Store

    try:
        store = Store(CampaignsConfig.load())
    except Exception as exc:  # a store that is down must not hide the other prompts
        log.warning("campaign store unavailable, listing the kinds' prompts only: %s", exc)
        return []
    try:
        return [(row["id"], spec_from_dict(row["spec"])) for row in store.list_campaigns() if row["state"] != "stopped"]
    finally:
        store.close()


def fixed_prompts() -> list[Prompt]:
    """The provider ``speech.prompts`` looks for (``campaigns.prompts:fixed_prompts``)."""
    prompts = [*_dialler_prompts(), *_kind_prompts()]
    for campaign_id, spec in stored_specs():
        prompts += [Prompt(f"campaigns.{campaign_id}.{part}", text) for part, text in spec_parts(spec)]
    return prompts


def campaign_texts(store: Store) -> list[str]:
    """The texts of every campaign in ``store`` that is not stopped (warmed by the dialler at start)."""
    rows = store.list_campaigns()
    return [text for row in rows if row["state"] != "stopped" for text in spec_texts(spec_from_dict(row["spec"]))]
