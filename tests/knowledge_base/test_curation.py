"""Curation: every change is a version with its author; archive and restore never lose history."""

from __future__ import annotations

import pytest

from knowledge_base import curation
from knowledge_base.entry import EntryError
from knowledge_base.store import Store

ENTRY = {"id": "e-1", "question": "垃圾怎么分类", "answer": "分四类。", "category": "城市管理"}


def test_create_edit_publish_archive_restore(store: Store) -> None:
    entry = curation.create(store, ENTRY, "alice")
    assert (entry.version, entry.status, entry.updated_by) == (1, "draft", "alice")
    curation.update(store, "e-1", {"answer": "分四类：可回收物、有害垃圾、厨余垃圾、其他垃圾。", "version": 1}, "bob")
    curation.set_status(store, "e-1", "published", "bob")
    curation.set_status(store, "e-1", "archived", "carol")
    restored = curation.restore(store, "e-1", 1, "dave")
    assert (restored.version, restored.status, restored.answer) == (5, "draft", "分四类。")
    history = store.history("e-1")
    assert [(v["version"], v["action"], v["author"]) for v in history] == [
        (5, "restore", "dave"), (4, "archive", "carol"), (3, "publish", "bob"), (2, "update", "bob"),
        (1, "create", "alice")]
    assert history[3]["content"]["answer"].startswith("分四类：")


def test_every_change_bumps_the_revision_and_no_op_edits_do_not(store: Store) -> None:
    assert store.revision() == 0
    curation.create(store, ENTRY, "a")
    curation.update(store, "e-1", {"answer": "分四类。"}, "a")  # unchanged
    assert store.revision() == 1 and len(store.history("e-1")) == 1
    curation.set_status(store, "e-1", "published", "a")
    assert store.revision() == 2


def test_errors_name_the_problem(store: Store) -> None:
    curation.create(store, ENTRY, "a")
    with pytest.raises(curation.Conflict, match="已存在"):
        curation.create(store, ENTRY, "a")
    with pytest.raises(curation.Conflict) as info:
        curation.update(store, "e-1", {"answer": "x", "version": 7}, "a")
    assert info.value.field == "version"
    with pytest.raises(EntryError) as bad:
        curation.update(store, "e-1", {"answer": " "}, "a")
    assert bad.value.field == "answer"
    with pytest.raises(curation.NotFound):
        curation.update(store, "nope", {"answer": "x"}, "a")
    with pytest.raises(curation.NotFound):
        curation.restore(store, "e-1", 9, "a")
    assert store.get("e-1").answer == "分四类。"


def test_new_entries_get_an_id_when_none_is_given(store: Store) -> None:
    entry = curation.create(store, {k: v for k, v in ENTRY.items() if k != "id"}, "a")
    assert entry.id.startswith("kb-") and store.get(entry.id) is not None
