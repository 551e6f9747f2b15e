"""The contrast-groups file (``contrast_groups.yaml``): its format, its checks, and fast term matching.

Kept apart from the verifier so the rules curators edit are read in one place, with errors that
name the group and member ("组「人群」中说法「老人」同时属于…"), and a bad edit is refused whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from knowledge_base.text import normalize

DECLINE, CLARIFY, IGNORE = "decline", "clarify", "ignore"
ACTIONS = (DECLINE, CLARIFY, IGNORE)
NEVER = re.compile(r"(?!x)x")


class ContrastFileError(ValueError):
    """The contrast file is malformed; the message names the group or member."""


@dataclass(frozen=True)
class Member:
    name: str
    terms: tuple[str, ...]
    on_missing: str               # the question names this member, the entry none of the group's


@dataclass(frozen=True)
class Group:
    name: str
    members: tuple[Member, ...]
    on_conflict: str              # the question names one member, the entry only others
    on_unasked: str               # the entry's question names a member, the question none of the group's
    pattern: re.Pattern[str]
    term_member: dict[str, int]   # normalised term -> index into members; -1: an ``ignore`` phrase

    def spans(self, text: str) -> list[tuple[int, int, int]]:
        """(start, end, member) of every term in normalised ``text``, longest match first at each place.

        ``ignore`` phrases (member -1) are matched too, so they hide the shorter terms inside them
        ("丢了工作" is not a lost document).
        """
        return [(m.start(), m.end(), self.term_member[m.group(0)]) for m in self.pattern.finditer(text)]

    def find(self, text: str) -> dict[int, str]:
        """Members mentioned in normalised ``text`` -> the first surface term seen."""
        found: dict[int, str] = {}
        for start, end, index in self.spans(text):
            if index >= 0:
                found.setdefault(index, text[start:end])
        return found


@dataclass(frozen=True)
class Coverage:
    """What the coverage check ignores (function words and characters) and counts as the same (synonyms)."""

    function_words: re.Pattern[str]
    function_chars: frozenset[str]
    synonyms: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Contrasts:
    groups: tuple[Group, ...]
    coverage: Coverage
    source: str = ""


def _action(value: Any, where: str) -> str:
    if value not in ACTIONS:
        raise ContrastFileError(f"{where}：处理方式须为 {' / '.join(ACTIONS)} 之一（现为 {value!r}）")
    return str(value)


def _alternation(terms: list[str]) -> re.Pattern[str]:
    """One regex for many terms; longest first, since at each position the first alternative that matches wins."""
    ordered = sorted(set(terms), key=lambda t: (-len(t), t))
    return re.compile("|".join(re.escape(t) for t in ordered)) if ordered else NEVER


def _group(raw: Any, index: int) -> Group:
    if not isinstance(raw, dict) or not raw.get("name") or not isinstance(raw.get("members"), list):
        raise ContrastFileError(f"第 {index + 1} 组须有 name 和 members 列表")
    name = str(raw["name"])
    on_conflict = _action(raw.get("on_conflict", DECLINE), f"组「{name}」on_conflict")
    group_missing = _action(raw.get("on_missing", IGNORE), f"组「{name}」on_missing")
    on_unasked = _action(raw.get("on_unasked", IGNORE), f"组「{name}」on_unasked")
    if not isinstance(raw.get("ignore", []), list):
        raise ContrastFileError(f"组「{name}」的 ignore 须为说法列表")
    members: list[Member] = []
    term_member: dict[str, int] = {}
    for m in raw["members"]:
        if not isinstance(m, dict) or not m.get("name") or not isinstance(m.get("terms"), list) or not m["terms"]:
            raise ContrastFileError(f"组「{name}」的成员须有 name 和非空 terms 列表")
        member_name = str(m["name"])
        terms = tuple(t for t in dict.fromkeys(normalize(str(t)) for t in m["terms"]) if t)
        for term in terms:
            if term in term_member and term_member[term] != len(members):
                other = members[term_member[term]].name
                raise ContrastFileError(f"组「{name}」中说法「{term}」同时属于「{other}」和「{member_name}」")
            term_member[term] = len(members)
        missing = _action(m.get("on_missing", group_missing), f"组「{name}」成员「{member_name}」on_missing")
        members.append(Member(member_name, terms, missing))
    for phrase in raw.get("ignore", []):
        term = normalize(str(phrase))
        if term in term_member:
            raise ContrastFileError(
                f"组「{name}」的 ignore 说法「{term}」同时是成员「{members[term_member[term]].name}」的说法")
        if term:
            term_member[term] = -1
    return Group(name, tuple(members), on_conflict, on_unasked, _alternation(list(term_member)), term_member)


def _coverage(raw: Any) -> Coverage:
    if not isinstance(raw, dict):
        raise ContrastFileError("coverage 须为对象")
    words, chars, synonyms = raw.get("function_words") or [], raw.get("function_chars") or "", raw.get("synonyms") or []
    if not isinstance(words, list) or not isinstance(chars, str):
        raise ContrastFileError("coverage 须含 function_words（说法列表）和 function_chars（一串字符）")
    if not isinstance(synonyms, list) or not all(isinstance(x, list) for x in synonyms):
        raise ContrastFileError("coverage.synonyms 须为同义说法列表的列表")
    sets = (tuple(dict.fromkeys(w for w in (normalize(str(x)) for x in words_) if w)) for words_ in synonyms)
    return Coverage(_alternation([w for w in (normalize(str(x)) for x in words) if w]),
                    frozenset(normalize(chars)), tuple(s for s in sets if len(s) > 1))


def parse(data: Any, source: str = "") -> Contrasts:
    if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
        raise ContrastFileError("对照组文件顶层须为含 groups 列表的对象")
    groups = tuple(_group(g, i) for i, g in enumerate(data["groups"]))
    return Contrasts(groups, _coverage(data.get("coverage") or {}), source)


def load(path: Path) -> Contrasts:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContrastFileError(f"对照组文件 YAML 格式错误：{exc}") from None
    return parse(data, str(path))
