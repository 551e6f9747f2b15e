"""What curators do to entries: create, edit, publish, archive, restore a version, import.

Every operation is one store transaction that records a version with its author, so history is
complete and another process's index notices the change through the revision counter.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from knowledge_base.entry import CONTENT_FIELDS, Entry, EntryError, validate
from knowledge_base.store import Store


class NotFound(LookupError):
    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.message = what


class Conflict(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message, self.field = message, field


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged}


def import_entries(store: Store, entries: list[Entry], author: str) -> ImportReport:
    """Create or update by id in one transaction; an unchanged entry gets no new version."""
    report = ImportReport()
    with store.transaction() as tx:
        for entry in entries:
            current = tx.get(entry.id)
            if current is not None:
                # Department spreadsheets rarely carry the paraphrases curators adopted from the unanswered
                # list; a re-import must not throw them away (removing one is an edit in the console).
                entry.also_answers = _merged(entry, current.also_answers)
            if current is None:
                tx.save(entry, author, "import")
                report.created += 1
            elif current.content() == entry.content():
                report.unchanged += 1
            else:
                tx.save(entry, author, "import")
                report.updated += 1
    return report


def _merged(entry: Entry, extra: list[str]) -> list[str]:
    own = {entry.question, *entry.alternates}
    return [t for t in dict.fromkeys([*entry.also_answers, *extra]) if t not in own]


def add_also_answer(store: Store, entry_id: str, text: str, author: str,
                    expected_version: int | None = None) -> tuple[Entry, bool]:
    """Adopt a resident's wording as one the entry also answers; ``False`` when the entry already had it."""
    with store.transaction() as tx:
        current = tx.get(entry_id)
        if current is None:
            raise NotFound(f"没有编号为 {entry_id} 的条目")
        if expected_version is not None and expected_version != current.version:
            raise Conflict(f"条目已被他人修改（当前版本 {current.version}），请刷新后再试", "version")
        if text in (current.question, *current.alternates, *current.also_answers):
            return current, False
        data = {"id": entry_id, **current.content(), "also_answers": [*current.also_answers, text]}
        entry = validate(data, default_status=current.status)
        if len(entry.also_answers) == len(current.also_answers):
            return current, False
        return tx.save(entry, author, "also_answers"), True


def create(store: Store, data: dict[str, Any], author: str) -> Entry:
    data = dict(data)
    data.setdefault("id", f"kb-{uuid.uuid4().hex[:10]}")
    entry = validate(data, default_status="draft")
    with store.transaction() as tx:
        if tx.get(entry.id):
            raise Conflict(f"编号 {entry.id} 已存在", "id")
        return tx.save(entry, author, "create")


def update(store: Store, entry_id: str, data: dict[str, Any], author: str) -> Entry:
    """Partial update; ``version`` in the body guards against overwriting someone else's newer edit."""
    data = dict(data)
    expected = data.pop("version", None)
    if "id" in data and data["id"] != entry_id:
        raise EntryError("id", "编号不能修改")
    with store.transaction() as tx:
        current = tx.get(entry_id)
        if current is None:
            raise NotFound(f"没有编号为 {entry_id} 的条目")
        if expected is not None and int(expected) != current.version:
            raise Conflict(f"条目已被他人修改（当前版本 {current.version}），请刷新后再编辑", "version")
        merged = {"id": entry_id, **current.content(), **data}
        entry = validate(merged, default_status=current.status)
        if entry.content() == current.content():
            return current
        return tx.save(entry, author, "update")


def set_status(store: Store, entry_id: str, status: str, author: str) -> Entry:
    """publish / archive (archiving is our delete: history stays and the entry can come back)."""
    with store.transaction() as tx:
        current = tx.get(entry_id)
        if current is None:
            raise NotFound(f"没有编号为 {entry_id} 的条目")
        if current.status == status:
            return current
        current.status = status
        return tx.save(current, author, {"published": "publish", "archived": "archive"}.get(status, status))


def restore(store: Store, entry_id: str, version: int, author: str) -> Entry:
    """Bring back an old version's content and status, as a new version (history is never rewritten)."""
    with store.transaction() as tx:
        current = tx.get(entry_id)
        if current is None:
            raise NotFound(f"没有编号为 {entry_id} 的条目")
        snapshot = tx.version(entry_id, version)
        if snapshot is None:
            raise NotFound(f"条目 {entry_id} 没有第 {version} 版")
        content = {k: snapshot.get(k) for k in (*CONTENT_FIELDS, "status")}
        entry = validate({"id": entry_id, **content})
        return tx.save(entry, author, "restore")
